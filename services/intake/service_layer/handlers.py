"""Intake's use cases: plain functions that take their dependencies (a unit of work)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.events import (
    CaseClosed,
    CaseErased,
    CaseReopened,
    EscalationRaised,
    EscalationResolved,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralExpired,
    ReferralProgressed,
    ReferralRequested,
    ReferralWithdrawn,
)
from contracts.topics import Topics
from runtime.auth import Principal
from runtime.consumer import EventMeta, NotYetKnown
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.intake.adapters import repository
from services.intake.domain.model import (
    STATUS_RANK,
    CloseCase,
    NewCase,
    NewObservation,
    PartStatus,
    ReopenCase,
    address_key,
    check_close,
    check_reopen,
    expired_rank,
    family,
    joins_open_case,
    open_case,
    repeat_complaint,
)
from services.intake.domain.model import (
    record_observation as observation_recorded,
)

PURPOSE = "casusregie"
LEGAL_BASIS = "AVG art. 6(1)(e); convenant wijkaanpak"


@dataclass(frozen=True)
class Submitted:
    case_id: UUID
    complaint_id: UUID
    repeat_count: int
    joined_open_case: bool


async def submit_case(new: NewCase, corporation: Principal, uow: UnitOfWork, *,
                      repeat_window: timedelta = timedelta(0), source_shape: str = "samenwijk") -> Submitted:
    """Open a case, or add the complaint to the open case of the same unit and category
    family when it comes within the repeat window."""
    now = datetime.now(UTC)
    org = corporation.organisation_id
    unit = address_key(new.address)
    await repository.lock_unit(uow.conn, org, unit, family(new.category))
    current = await repository.open_case_of_unit(uow.conn, org, unit, family(new.category))
    if current is not None and joins_open_case(current["last_complaint_at"], now, repeat_window):
        complaint = repeat_complaint(current["case_id"], org, new, current["complaints"], now)
        await repository.join_complaint(uow.conn, complaint, new.description, new.reporter)
        uow.publish(complaint, Topics.CASES)
        return Submitted(complaint.case_id, complaint.complaint_id, complaint.repeat_count, True)
    case_id, complaint_id, opened, complaint = open_case(new, org, now)
    if new.address is not None:  # the building, as a reference reporting can count but not resolve
        ref = await repository.building_ref(uow.conn, new.address.postcode, new.address.huisnummer)
        opened = opened.model_copy(update={"building_ref": ref})
    await repository.add_case(uow.conn, opened, complaint_id, new.reporter, source_shape)
    uow.publish(opened, Topics.CASES)
    uow.publish(complaint, Topics.CASES)
    return Submitted(case_id, complaint_id, 1, False)


async def stored_answer(uow: UnitOfWork, corporation_id: str, key: str) -> Any:
    """The first answer given for this Idempotency-Key, or None for a new key."""
    return await repository.claim_idempotency_key(uow.conn, corporation_id, key)


async def store_answer(uow: UnitOfWork, corporation_id: str, key: str, request_fingerprint: str, status: int,
                       payload: dict[str, Any]) -> None:
    await repository.store_idempotent_response(uow.conn, corporation_id, key, request_fingerprint, status, payload)


async def _own_case(case_id: UUID, corporation: Principal, uow: UnitOfWork, action: str, *,
                    for_update: bool = False) -> dict[str, Any] | None:
    """A corporation reaches only its own cases; another's case is None (404). Every
    attempt is logged, allowed or denied."""
    case = await repository.get_case(uow.conn, case_id, for_update=for_update)
    own = case is not None and case["corporation_id"] == corporation.organisation_id
    uow.log_access(AccessRecord(
        action=action, outcome="allowed" if own else "denied",
        organisation_id=corporation.organisation_id, user_id=corporation.user_id, case_id=case_id,
        purpose=PURPOSE, legal_basis=LEGAL_BASIS,
    ))
    return case if own else None


async def resolve_building(ref: str, corporation: Principal, uow: UnitOfWork) -> dict[str, Any] | None:
    """The address behind a building reference (a hotspot signal names one), only for a
    corporation with its own cases there; logged as a read of personal data."""
    found = await repository.building(uow.conn, ref, corporation.organisation_id)
    for case in (found or {}).get("cases", []):
        uow.log_access(AccessRecord(
            action="building.resolve", outcome="allowed", organisation_id=corporation.organisation_id,
            user_id=corporation.user_id, case_id=case["case_id"], purpose=PURPOSE, legal_basis=LEGAL_BASIS))
    return found


async def view_case(case_id: UUID, corporation: Principal, uow: UnitOfWork) -> dict[str, Any] | None:
    return await _own_case(case_id, corporation, uow, "case.read")


async def list_cases(corporation: Principal, uow: UnitOfWork, *, status: str | None, category: str | None,
                     buurt_code: str | None, opened_from: date | None, opened_to: date | None,
                     after: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]:
    """The corporation's own cases, without personal data (so no processing-log record)."""
    return await repository.list_cases(uow.conn, corporation.organisation_id, status=status, category=category,
                                       buurt_code=buurt_code, opened_from=opened_from, opened_to=opened_to,
                                       after=after, limit=limit)


async def close_case(case_id: UUID, close: CloseCase, corporation: Principal, uow: UnitOfWork) -> dict[str, Any] | None:
    case = await _own_case(case_id, corporation, uow, "case.close", for_update=True)
    if case is None:
        return None
    check_close(case["status"])
    now = datetime.now(UTC)
    await repository.close_case(uow.conn, case_id, close.outcome, close.liveability_cost_eur, now)
    uow.publish(CaseClosed(case_id=case_id, corporation_id=corporation.organisation_id, outcome=close.outcome,
                           closed_at=now, liveability_cost_eur=close.liveability_cost_eur), Topics.CASES)
    return await repository.get_case(uow.conn, case_id)


async def reopen_case(case_id: UUID, reopen: ReopenCase, corporation: Principal,
                      uow: UnitOfWork) -> dict[str, Any] | None:
    case = await _own_case(case_id, corporation, uow, "case.reopen", for_update=True)
    if case is None:
        return None
    check_reopen(case["status"])
    now = datetime.now(UTC)
    await repository.reopen_case(uow.conn, case_id, now)
    uow.publish(CaseReopened(case_id=case_id, corporation_id=corporation.organisation_id, reason=reopen.reason,
                             reopened_at=now), Topics.CASES)
    return await repository.get_case(uow.conn, case_id)


async def record_observation(new: NewObservation, corporation: Principal, uow: UnitOfWork) -> tuple[UUID, UUID | None]:
    """An observation at an address joins that unit's open case of the same family, if any."""
    case_id = None
    if new.address is not None:
        current = await repository.open_case_of_unit(uow.conn, corporation.organisation_id,
                                                     address_key(new.address), family(new.category))
        case_id = current["case_id"] if current else None
    observed = observation_recorded(new, corporation.organisation_id, case_id, datetime.now(UTC))
    await repository.add_observation(uow.conn, observed)
    uow.publish(observed, Topics.CASES)
    return observed.observation_id, case_id


async def erase_expired_cases(uow: UnitOfWork, retention: timedelta, now: datetime, batch: int = 100) -> list[UUID]:
    """Erase the personal data of closed cases past retention and announce it with
    case.erased. Idempotent: an erased case is no longer 'closed', so it is never picked
    again; concurrent runs skip each other's locked rows."""
    erased = []
    for row in await repository.cases_to_erase(uow.conn, now - retention, batch):
        await repository.erase_case(uow.conn, row["case_id"], now)
        # the outbox, dead letters and data keys: every copy of its events becomes unreadable
        await uow.erase_case_records(row["case_id"])
        await repository.forget_idempotency(uow.conn, row["case_id"])
        uow.publish(CaseErased(case_id=row["case_id"], erased_at=now), Topics.CASES)
        uow.log_access(AccessRecord(
            action="case.erase", outcome="allowed", organisation_id=row["corporation_id"], case_id=row["case_id"],
            purpose="bewaartermijn", legal_basis="AVG art. 5(1)(e) opslagbeperking", user_id="retention-job"))
        erased.append(row["case_id"])
    return erased


async def erase_expired_observations(uow: UnitOfWork, retention: timedelta, now: datetime,
                                     batch: int = 100) -> list[UUID]:
    """Observations that never joined a case are personal data of their own (an address, a
    note): erased after the retention period, their data key with them. No event: nobody
    else holds more of them than the sealed event on the topic."""
    erased = []
    for row in await repository.observations_to_erase(uow.conn, now - retention, batch):
        observation_id = row["observation_id"]
        await repository.erase_observation(uow.conn, observation_id, now)
        await uow.erase_case_records(observation_id)  # keyed by the observation's id
        await repository.forget_idempotency(uow.conn, observation_id)
        uow.log_access(AccessRecord(
            action="observation.erase", outcome="allowed", organisation_id=row["corporation_id"],
            case_id=observation_id, purpose="bewaartermijn", legal_basis="AVG art. 5(1)(e) opslagbeperking",
            user_id="retention-job"))
        erased.append(observation_id)
    return erased


async def purge_idempotency_keys(uow: UnitOfWork, ttl: timedelta, now: datetime) -> int:
    return await repository.purge_idempotency(uow.conn, now - ttl)


# -- what partners did with the case (events) ---------------------------------------------

async def on_referral_requested(event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.REQUESTED, event.requested_at, partner_type=event.partner_type.value,
                purpose=event.purpose, respond_by=event.respond_by)
    uow.now_known("referral", event.referral_id)  # an escalation that overtook it applies now


def _said(event: ReferralAccepted | ReferralDeclined | ReferralProgressed | ReferralCompleted) -> dict[str, Any]:
    """What the corporation may know of a partner's response: the code; the partner's own
    words only when its agreement named the corporation (partners decides, at the source)."""
    return {"response_kind": event.kind.value, "response_code": event.code, "partner_note": event.text_for_corporation}


async def on_referral_accepted(event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.ACCEPTED, event.accepted_at, **_said(event))


async def on_referral_declined(event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.DECLINED, event.declined_at, **_said(event))


async def on_referral_progressed(event: ReferralProgressed, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.IN_PROGRESS, event.progressed_at, **_said(event))


async def on_referral_completed(event: ReferralCompleted, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.COMPLETED, event.completed_at, **_said(event))


async def on_referral_withdrawn(event: ReferralWithdrawn, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.WITHDRAWN, event.withdrawn_at, reason=event.reason)


async def on_referral_expired(event: ReferralExpired, meta: EventMeta, uow: UnitOfWork) -> None:
    await _part(uow, event, PartStatus.EXPIRED, event.expired_at, rank=expired_rank(event.deadline),
                reason=f"{event.deadline} deadline {event.due_at.isoformat()} passed")


async def on_escalation_raised(event: EscalationRaised, meta: EventMeta, uow: UnitOfWork) -> None:
    if event.referral_id is not None and not await repository.part_exists(uow.conn, event.referral_id):
        raise NotYetKnown("referral", event.referral_id)  # the part must exist to show it escalated
    await repository.add_escalation(uow.conn, event.escalation_id, event.case_id, event.level,
                                    event.reason, event.raised_at, event.referral_id)
    if event.referral_id is not None:
        await repository.escalate_part(uow.conn, event.referral_id, STATUS_RANK[PartStatus.ESCALATED],
                                       f"{event.level}: {event.reason}" if event.reason else event.level,
                                       event.raised_at)


async def on_escalation_resolved(event: EscalationResolved, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.resolve_escalation(uow.conn, event.escalation_id, event.case_id, event.reason,
                                        event.resolved_at)


async def _part(uow: UnitOfWork, event: Any, status: PartStatus, at: datetime, *, rank: int | None = None,
                **fields: Any) -> None:
    await repository.upsert_part(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                 partner_id=event.partner_id, status=status,
                                 rank=STATUS_RANK[status] if rank is None else rank, at=at, **fields)
