"""Partners' use cases: publish the registry, deliver referrals, take partner responses."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from contracts.events import (
    AgreementChanged,
    CaseErased,
    EscalationRaised,
    PartnerRegistered,
    ReferralAccepted,
    ReferralDeclined,
    ReferralRequested,
)
from contracts.topics import Topics
from runtime.auth import Principal
from runtime.consumer import EventMeta
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.partners.adapters import repository
from services.partners.domain.model import ReferralStatus, Registry, check_response


class ReferralNotFound(Exception):
    pass


async def publish_registry(registry: Registry, uow: UnitOfWork) -> None:
    """Store the seeded registry and announce all of it: referral keeps its own copy, and the
    embedded broker starts empty, so the full current state goes out at every start."""
    now = datetime.now(UTC)
    for p in registry.partners:
        await repository.upsert_partner(uow.conn, p, now)
        uow.publish(PartnerRegistered(partner_id=p.partner_id, name=p.name, partner_type=p.partner_type,
                                      region=p.region, registered_at=now), Topics.PARTNERS)
        for a in p.agreements:
            await repository.upsert_agreement(uow.conn, p.partner_id, a, now)
    for row in await repository.agreements(uow.conn):
        uow.publish(AgreementChanged(
            agreement_id=row["agreement_id"], partner_id=row["partner_id"], purposes=row["purposes"],
            fields=row["fields"], legal_basis=row["legal_basis"], valid_from=row["valid_from"],
            valid_until=row["valid_until"], revoked=row["revoked"], revision=row["revision"],
            changed_at=row["changed_at"]), Topics.PARTNERS)


async def on_referral_requested(event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
    """Deliver to the partner's inbox topic if its agreement still allows it, else hold it."""
    now = datetime.now(UTC)
    agreement = await repository.current_agreement(uow.conn, event.partner_id, event.purpose, now.date())
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
        payload=delivered.model_dump(mode="json", exclude_none=True), requested_at=event.requested_at, now=now)
    if not stored or status is ReferralStatus.HELD:
        return
    uow.publish(delivered, Topics.partner_inbox(event.partner_id))
    uow.log_access(AccessRecord(
        action="referral.deliver", outcome="allowed", organisation_id=event.partner_id,
        case_id=event.case_id, referral_id=event.referral_id, purpose=event.purpose,
        legal_basis=event.legal_basis))


async def on_escalation_raised(event: EscalationRaised, meta: EventMeta, uow: UnitOfWork) -> None:
    if event.owner_partner_id:
        uow.publish(event, Topics.partner_inbox(event.owner_partner_id))


async def on_case_erased(event: CaseErased, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.erase_case(uow.conn, event.case_id)


# -- the partner's side -------------------------------------------------------------------

def _access(action: str, outcome: str, partner: Principal, row: Any, referral_id: UUID) -> AccessRecord:
    return AccessRecord(
        action=action, outcome=outcome, organisation_id=partner.organisation_id, user_id=partner.user_id,
        case_id=row["case_id"] if row else None, referral_id=referral_id,
        purpose=row["purpose"] if row else None, legal_basis=row["legal_basis"] if row else None)


async def read_referral(referral_id: UUID, partner: Principal, uow: UnitOfWork) -> dict[str, Any] | None:
    """A partner sees only its own referrals; another's is None (404, no existence leak)."""
    row = await repository.get_referral(uow.conn, referral_id)
    own = row is not None and row["partner_id"] == partner.organisation_id
    uow.log_access(_access("referral.read", "allowed" if own else "denied", partner, row if own else None, referral_id))
    return dict(row) if own else None


async def list_referrals(partner: Principal, status: str | None, limit: int, before: datetime | None,
                         uow: UnitOfWork) -> list[dict[str, Any]]:
    rows = await repository.list_referrals(uow.conn, partner.organisation_id, status, limit, before)
    for row in rows:
        uow.log_access(_access("referral.read", "allowed", partner, row, row["referral_id"]))
    return [dict(r) for r in rows]


async def respond(referral_id: UUID, partner_id: str, wanted: ReferralStatus, text: str | None,
                  uow: UnitOfWork) -> dict[str, Any]:
    """Accept or decline. Raises ReferralNotFound (also for another partner's referral) or
    IllegalTransition."""
    row = await repository.get_referral(uow.conn, referral_id, for_update=True)
    if row is None or row["partner_id"] != partner_id:
        raise ReferralNotFound(referral_id)
    if not check_response(ReferralStatus(row["status"]), wanted, row["response"] == text):
        return dict(row)
    now = datetime.now(UTC)
    await repository.set_status(uow.conn, referral_id, wanted, text, now)
    if wanted is ReferralStatus.ACCEPTED:
        uow.publish(ReferralAccepted(referral_id=referral_id, case_id=row["case_id"], partner_id=partner_id,
                                     note=text, accepted_at=now), Topics.PARTNERS)
    else:
        uow.publish(ReferralDeclined(referral_id=referral_id, case_id=row["case_id"], partner_id=partner_id,
                                     reason=text or "", declined_at=now), Topics.PARTNERS)
    return {**dict(row), "status": wanted.value, "response": text, "updated_at": now}

