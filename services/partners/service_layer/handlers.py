"""Partners' use cases: the registry and agreements, delivering referrals, the partner's
responses, erasure and the processing log."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from contracts.envelope import Event, encode
from contracts.events import (
    AgreementChanged,
    CaseErased,
    CaseOpened,
    EscalationRaised,
    PartnerRegistered,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralProgressed,
    ReferralRequested,
)
from contracts.reason_codes import TextRecipient, check_code
from contracts.topics import Topics
from runtime.auth import Principal
from runtime.consumer import EventMeta
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.partners.adapters import repository
from services.partners.domain.model import (
    AgreementSeed,
    PartnerSeed,
    ReferralStatus,
    Registry,
    IllegalTransition,
    Response,
    decide,
    text_shared_with,
)


class ReferralNotFound(Exception):
    pass


class RegistryConflict(Exception):
    pass


# -- registry and agreements ----------------------------------------------------------------


def _partner_event(row: asyncpg.Record) -> PartnerRegistered:
    return PartnerRegistered(partner_id=row["partner_id"], name=row["name"], partner_type=row["partner_type"],
                             region=row["region"], registered_at=row["registered_at"],
                             coordinator=row["coordinator"])


def _agreement_event(row: asyncpg.Record) -> AgreementChanged:
    return AgreementChanged(
        agreement_id=row["agreement_id"], partner_id=row["partner_id"], purposes=row["purposes"],
        fields=row["fields"], legal_basis=row["legal_basis"], valid_from=row["valid_from"],
        valid_until=row["valid_until"], revoked=row["revoked"], revision=row["revision"],
        changed_at=row["changed_at"], free_text_recipients=row["free_text_recipients"])


async def seed_and_announce(registry: Registry, uow: UnitOfWork) -> list[str]:
    """Add what the seed file has and the database not yet (the admin API owns changes after
    that), then announce the whole registry: referral keeps its own copy and the embedded
    broker starts empty. Returns every partner id (each needs its topics)."""
    now = datetime.now(UTC)
    for p in registry.partners:
        await repository.add_partner_if_new(uow.conn, p, now)
        for a in p.agreements:
            await repository.add_agreement_if_new(uow.conn, p.partner_id, a, now)
    rows = await repository.partners(uow.conn)
    for row in rows:
        uow.publish(_partner_event(row), Topics.PARTNERS)
    for row in await repository.agreements(uow.conn):
        uow.publish(_agreement_event(row), Topics.PARTNERS)
    return [r["partner_id"] for r in rows]


async def register_partner(partner: PartnerSeed, uow: UnitOfWork) -> dict[str, Any]:
    """Create or update a partner and its listed agreements; every change is announced."""
    now = datetime.now(UTC)
    row = await repository.upsert_partner(uow.conn, partner, now)
    uow.publish(_partner_event(row), Topics.PARTNERS)
    for a in partner.agreements:
        await put_agreement(partner.partner_id, a, uow)
    return dict(row)


async def put_agreement(partner_id: str, agreement: AgreementSeed, uow: UnitOfWork) -> dict[str, Any]:
    """Raises LookupError (no such partner) or RegistryConflict (the id is another partner's)."""
    if await repository.get_partner(uow.conn, partner_id) is None:
        raise LookupError(f"no partner {partner_id}")
    row = await repository.upsert_agreement(uow.conn, partner_id, agreement, datetime.now(UTC))
    if row is not None:
        uow.publish(_agreement_event(row), Topics.PARTNERS)
        return dict(row)
    current = await repository.get_agreement(uow.conn, agreement.agreement_id)
    if current["partner_id"] != partner_id:
        raise RegistryConflict(f"agreement {agreement.agreement_id} belongs to {current['partner_id']}")
    return dict(current)  # unchanged: nothing to announce


async def revoke_agreement(agreement_id: str, uow: UnitOfWork) -> dict[str, Any]:
    """Effective at once: deliveries check the current agreement. Raises LookupError."""
    row = await repository.revoke_agreement(uow.conn, agreement_id, datetime.now(UTC))
    if row is None:
        current = await repository.get_agreement(uow.conn, agreement_id)
        if current is None:
            raise LookupError(f"no agreement {agreement_id}")
        return dict(current)  # already revoked
    uow.publish(_agreement_event(row), Topics.PARTNERS)
    return dict(row)


# -- delivery -------------------------------------------------------------------------------


async def _send_webhook(uow: UnitOfWork, event: Event, partner_id: str, case_id: UUID, *,
                        referral_id: UUID | None = None, purpose: str | None = None,
                        legal_basis: str | None = None) -> None:
    """Queue a webhook delivery in the same transaction (the delivery job sends it)."""
    if await repository.subscription(uow.conn, partner_id) is None:
        return
    delivery_id = uuid4()  # also the CloudEvent id, so the receiver can dedupe
    await repository.add_delivery(
        uow.conn, delivery_id=delivery_id, partner_id=partner_id, case_id=case_id, referral_id=referral_id,
        purpose=purpose, legal_basis=legal_basis, event_type=event.type_name(),
        body=encode(event, uow.source, event_id=delivery_id), now=datetime.now(UTC))


async def on_referral_requested(event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
    """Deliver to the partner's inbox topic (and webhook) if its agreement still allows it,
    else hold it, visibly."""
    now = datetime.now(UTC)
    agreement = await repository.current_agreement(uow.conn, event.partner_id, event.purpose, now.date())
    if event.details is None:  # its data key is gone: the case was erased before delivery
        await repository.add_referral(
            uow.conn, referral_id=event.referral_id, case_id=event.case_id, partner_id=event.partner_id,
            purpose=event.purpose, legal_basis=event.legal_basis, status=ReferralStatus.HELD,
            hold_reason="the case was erased before delivery", payload=None, requested_at=event.requested_at, now=now)
        return
    if agreement is None:
        status, hold_reason = ReferralStatus.HELD, f"no valid agreement for {event.purpose} at delivery"
        delivered = event
    else:
        status, hold_reason = ReferralStatus.DELIVERED, None
        # Rights are checked again now: a narrowed agreement narrows what goes out.
        delivered = event.model_copy(update={"details": event.details.restricted_to(agreement["fields"])})
    stored = await repository.add_referral(
        uow.conn, referral_id=event.referral_id, case_id=event.case_id, partner_id=event.partner_id,
        purpose=event.purpose, legal_basis=event.legal_basis, status=status, hold_reason=hold_reason,
        payload=delivered.model_dump(mode="json", exclude_none=True, exclude={"sealed"}), requested_at=event.requested_at, now=now)
    if stored and status is ReferralStatus.DELIVERED:
        await _deliver(uow, delivered)


async def _deliver(uow: UnitOfWork, referral: ReferralRequested) -> None:
    uow.publish(referral, Topics.partner_inbox(referral.partner_id))
    await _send_webhook(uow, referral, referral.partner_id, referral.case_id, referral_id=referral.referral_id,
                        purpose=referral.purpose, legal_basis=referral.legal_basis)
    uow.log_access(AccessRecord(
        action="referral.deliver", outcome="allowed", organisation_id=referral.partner_id,
        case_id=referral.case_id, referral_id=referral.referral_id, purpose=referral.purpose,
        legal_basis=referral.legal_basis))


async def release_referral(referral_id: UUID, uow: UnitOfWork) -> dict[str, Any]:
    """Deliver a held referral now that the partner's agreement allows it again (checked
    afresh). Raises LookupError or IllegalTransition with the reason."""
    row = await repository.get_referral(uow.conn, referral_id, for_update=True)
    if row is None:
        raise LookupError(f"no referral {referral_id}")
    if row["status"] != ReferralStatus.HELD.value or row["payload"] is None:
        raise IllegalTransition(f"referral is {row['status']}{' and erased' if row['payload'] is None else ''}, "
                                "only a held referral with its content can be released")
    now = datetime.now(UTC)
    agreement = await repository.current_agreement(uow.conn, row["partner_id"], row["purpose"], now.date())
    if agreement is None:
        raise IllegalTransition(f"still no valid agreement for {row['purpose']}")
    held = ReferralRequested.model_validate(row["payload"])
    delivered = held.model_copy(update={"details": held.details.restricted_to(agreement["fields"])})
    await repository.release_referral(uow.conn, referral_id, delivered.model_dump(mode="json", exclude_none=True, exclude={"sealed"}), now)
    await _deliver(uow, delivered)
    return dict(await repository.get_referral(uow.conn, referral_id))


async def on_escalation_raised(event: EscalationRaised, meta: EventMeta, uow: UnitOfWork) -> None:
    """The owner's inbox gets the escalation with codes; the responding partner's free text
    only when that partner's agreement names this escalation level as a recipient."""
    if not event.owner_partner_id:
        return
    delivered = event.model_copy(update={"response_text": None})
    row = await repository.get_referral(uow.conn, event.referral_id) if event.referral_id else None
    if row is not None and row["partner_id"] != event.owner_partner_id and event.response_code:
        agreement = await repository.current_agreement(uow.conn, row["partner_id"], row["purpose"],
                                                       datetime.now(UTC).date())
        text = row["response"] if row["response_code"] == event.response_code else None
        shared = text is not None and agreement is not None and \
            text_shared_with(agreement["free_text_recipients"], event.level)
        if shared:
            delivered = delivered.model_copy(update={"response_text": text})
        _log_share(uow, row, event.owner_partner_id, "escalation", with_text=shared)
    uow.publish(delivered, Topics.partner_inbox(event.owner_partner_id))
    await _send_webhook(uow, delivered, event.owner_partner_id, event.case_id, referral_id=event.referral_id)


def _log_share(uow: UnitOfWork, row: Any, recipient: str, via: str, *, with_text: bool) -> None:
    """A partner's response shared back (processing log): the code always, the text when agreed."""
    uow.log_access(AccessRecord(
        action=f"response.share.{via}{'.text' if with_text else ''}", outcome="allowed",
        organisation_id=recipient, case_id=row["case_id"], referral_id=row["referral_id"],
        purpose=row["purpose"], legal_basis=row["legal_basis"]))


async def on_case_opened(event: CaseOpened, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.set_case_owner(uow.conn, event.case_id, event.corporation_id)


async def on_case_erased(event: CaseErased, meta: EventMeta, uow: UnitOfWork) -> None:
    """Remove the personal data; the processing log keeps that it happened (identifiers only)."""
    for row in await repository.erase_case(uow.conn, event.case_id):
        uow.log_access(AccessRecord(
            action="referral.erase", outcome="allowed", organisation_id=row["partner_id"], case_id=event.case_id,
            referral_id=row["referral_id"], purpose=row["purpose"], legal_basis=row["legal_basis"]))
    await uow.erase_case_records(event.case_id)  # what it delivered to partner inboxes


# -- the partner's side ---------------------------------------------------------------------


def partner_view(row: asyncpg.Record | dict[str, Any], allowed: dict[str, set[str]]) -> dict[str, Any]:
    """What a partner sees: its referral within what its agreement allows *now* (`allowed`:
    fields per purpose). Held, or the agreement revoked or expired since: the reason, no content."""
    view = dict(row)
    fields = allowed.get(view["purpose"])
    if view["status"] == ReferralStatus.HELD.value or view["payload"] is None:
        view["payload"] = None
    elif fields is None:
        view["payload"] = None
        view["hold_reason"] = f"no valid agreement for {view['purpose']} at present"
    else:
        details = view["payload"].get("details", {})
        view["payload"] = {**view["payload"], "details": {k: v for k, v in details.items() if k in fields}}
    return view


def _shows_personal_data(view: dict[str, Any]) -> bool:
    return view["payload"] is not None


def _access(action: str, outcome: str, partner: Principal, row: Any, referral_id: UUID) -> AccessRecord:
    return AccessRecord(
        action=action, outcome=outcome, organisation_id=partner.organisation_id, user_id=partner.user_id,
        case_id=row["case_id"] if row else None, referral_id=referral_id,
        purpose=row["purpose"] if row else None, legal_basis=row["legal_basis"] if row else None)


async def read_referral(referral_id: UUID, partner: Principal, uow: UnitOfWork, action: str = "referral.read"
                        ) -> dict[str, Any] | None:
    """A partner sees only its own referrals; another's is None (404, no existence leak)."""
    row = await repository.get_referral(uow.conn, referral_id)
    if row is None or row["partner_id"] != partner.organisation_id:
        uow.log_access(_access(action, "denied", partner, None, referral_id))
        return None
    view = partner_view(row, await _allowed_now(partner, uow))
    if _shows_personal_data(view):
        uow.log_access(_access(action, "allowed", partner, row, referral_id))
    return view


async def _allowed_now(partner: Principal, uow: UnitOfWork) -> dict[str, set[str]]:
    return await repository.current_fields(uow.conn, partner.organisation_id, datetime.now(UTC).date())


async def list_referrals(partner: Principal, uow: UnitOfWork, *, status: str | None = None,
                         purpose: str | None = None, case_id: UUID | None = None, limit: int = 50,
                         before: tuple[datetime, UUID] | None = None) -> list[dict[str, Any]]:
    rows = await repository.list_referrals(uow.conn, partner_id=partner.organisation_id, status=status,
                                           purpose=purpose, case_id=case_id, limit=limit, before=before)
    allowed = await _allowed_now(partner, uow)
    views = [partner_view(r, allowed) for r in rows]
    for row, view in zip(rows, views, strict=True):
        if _shows_personal_data(view):
            uow.log_access(_access("referral.read", "allowed", partner, row, row["referral_id"]))
    return views


def _same_as_last(row: asyncpg.Record, response: Response, code: str, text: str | None) -> bool:
    match response:
        case Response.PROGRESS:
            last = row["progress"][-1] if row["progress"] else None
            return last is not None and last.get("code") == code and last["note"] == text
        case Response.COMPLETE:
            return row["outcome_code"] == code and row["outcome"] == text
        case _:
            return row["response_code"] == code and row["response"] == text


_EVENTS = {Response.ACCEPT: (ReferralAccepted, "accepted_at"), Response.DECLINE: (ReferralDeclined, "declined_at"),
           Response.PROGRESS: (ReferralProgressed, "progressed_at"),
           Response.COMPLETE: (ReferralCompleted, "completed_at")}


async def respond(referral_id: UUID, partner: Principal, response: Response, code: str, text: str | None,
                  uow: UnitOfWork) -> dict[str, Any]:
    """Accept, decline, report progress or complete, with a reason code and optional free
    text. What goes back to the corporation and referral is the code; the text only when the
    partner's agreement names the corporation. Raises ReferralNotFound (also for another
    partner's referral), IllegalTransition with the reason, or ValueError for an unknown code."""
    check_code(response, code)
    row = await repository.get_referral(uow.conn, referral_id, for_update=True)
    if row is None or row["partner_id"] != partner.organisation_id:
        raise ReferralNotFound(referral_id)
    status = decide(ReferralStatus(row["status"]), response, _same_as_last(row, response, code, text))
    uow.log_access(_access(f"referral.{response.value}", "allowed", partner, row, referral_id))
    allowed = await _allowed_now(partner, uow)
    if status is None:
        return partner_view(row, allowed)  # the same response again: already applied
    now = datetime.now(UTC)
    row = await repository.record_response(uow.conn, referral_id, status, response.value, code, text, now)
    agreement = await repository.current_agreement(uow.conn, row["partner_id"], row["purpose"], now.date())
    to_corporation = text is not None and agreement is not None and \
        text_shared_with(agreement["free_text_recipients"], TextRecipient.CORPORATION)
    model, at = _EVENTS[response]
    uow.publish(model(referral_id=referral_id, case_id=row["case_id"], partner_id=partner.organisation_id,
                      code=code, text_for_corporation=text if to_corporation else None, **{at: now}),
                Topics.PARTNERS)
    corporation = await repository.case_owner(uow.conn, row["case_id"]) or "corporation-of-the-case"
    _log_share(uow, row, corporation, "corporation", with_text=to_corporation)
    return partner_view(row, allowed)


async def inbox_key(case_id: UUID, partner: Principal, uow: UnitOfWork) -> tuple[str, bytes] | None:
    """The data key that opens what this partner's inbox topic holds of the case, while the
    case lives and the partner's agreement allows it now: for a referral, an agreement for its
    purpose; for an escalation it owns (no referral), any current agreement. None (404) for
    no such key — never delivered, or erased — and when the agreement no longer allows it."""
    kid = uow.keys.kid(f"inbox.{partner.organisation_id}", str(case_id)) if uow.keys else None
    found = await uow.keys.existing(uow.conn, [kid]) if uow.keys and kid else {}
    allowed = await _allowed_now(partner, uow)
    purposes = await repository.referral_purposes(uow.conn, case_id, partner.organisation_id)
    may = bool(set(purposes) & set(allowed)) if purposes else bool(allowed)
    ok = kid in found and may
    uow.log_access(AccessRecord(
        action="inbox_key.release", outcome="allowed" if ok else "denied", organisation_id=partner.organisation_id,
        user_id=partner.user_id, case_id=case_id, purpose=purposes[0] if purposes else None))
    return (kid, found[kid]) if ok and kid else None


# -- processing log -------------------------------------------------------------------------


async def processing_log(case_id: UUID, reader: Principal, uow: UnitOfWork) -> list[dict[str, Any]] | None:
    """The log of one case for an auditor (admin) or the corporation that owns the case;
    None for anyone else (404)."""
    if reader.org_type != "admin" and await repository.case_owner(uow.conn, case_id) != reader.organisation_id:
        uow.log_access(AccessRecord(action="processing_log.read", outcome="denied", organisation_id=reader.organisation_id,
                                    user_id=reader.user_id, case_id=case_id))
        return None
    return [dict(r) for r in await repository.processing_log(uow.conn, case_id)]
