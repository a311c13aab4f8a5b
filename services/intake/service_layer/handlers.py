"""Intake's use cases: plain functions that take their dependencies (a unit of work)."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from contracts.events import EscalationRaised, ReferralAccepted, ReferralDeclined, ReferralRequested
from contracts.topics import Topics
from runtime.auth import Principal
from runtime.consumer import EventMeta
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.intake.adapters import repository
from services.intake.domain.model import NewCase, PartStatus, open_case


async def submit_case(new: NewCase, corporation: Principal, uow: UnitOfWork) -> UUID:
    case_id, complaint_id, opened, complaint = open_case(new, corporation.organisation_id, datetime.now(UTC))
    await repository.add_case(uow.conn, opened, complaint_id, new.reporter)
    uow.publish(opened, Topics.CASES)
    uow.publish(complaint, Topics.CASES)
    return case_id


async def view_case(case_id: UUID, corporation: Principal, uow: UnitOfWork) -> dict[str, Any] | None:
    """A corporation reads only its own cases; another's case is None (404) and the attempt
    is logged like every read."""
    case = await repository.get_case(uow.conn, case_id)
    own = case is not None and case["corporation_id"] == corporation.organisation_id
    uow.log_access(AccessRecord(
        action="case.read", outcome="allowed" if own else "denied",
        organisation_id=corporation.organisation_id, user_id=corporation.user_id, case_id=case_id,
        purpose="casusregie", legal_basis="AVG art. 6(1)(e); convenant wijkaanpak",
    ))
    return case if own else None


# -- what partners did with the case (events) ---------------------------------------------

async def on_referral_requested(event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_part(
        uow.conn, referral_id=event.referral_id, case_id=event.case_id, partner_id=event.partner_id,
        status=PartStatus.REQUESTED, at=event.requested_at, partner_type=event.partner_type.value,
        purpose=event.purpose, respond_by=event.respond_by)


async def on_referral_accepted(event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_part(
        uow.conn, referral_id=event.referral_id, case_id=event.case_id, partner_id=event.partner_id,
        status=PartStatus.ACCEPTED, at=event.accepted_at, reason=event.note)


async def on_referral_declined(event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_part(
        uow.conn, referral_id=event.referral_id, case_id=event.case_id, partner_id=event.partner_id,
        status=PartStatus.DECLINED, at=event.declined_at, reason=event.reason)


async def on_escalation_raised(event: EscalationRaised, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.add_escalation(uow.conn, event.escalation_id, event.case_id, event.level,
                                    event.reason, event.raised_at)
