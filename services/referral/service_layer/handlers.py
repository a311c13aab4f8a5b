"""Referral's use cases."""

from datetime import UTC, datetime
from uuid import uuid4

from contracts.events import (
    AgreementChanged,
    CaseErased,
    CaseOpened,
    EscalationRaised,
    PartnerRegistered,
    ReferralAccepted,
    ReferralDeclined,
    ReferralRequested,
)
from contracts.topics import Topics
from runtime.consumer import EventMeta
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.referral.adapters import repository
from services.referral.domain.deadlines import due
from services.referral.domain.minimise import minimise, region_of
from services.referral.domain.rules import RuleSet


class Rulebook:
    """The rule sets in force, by region; replaced whole when a reload succeeds."""

    def __init__(self, rule_sets: dict[str, RuleSet]) -> None:
        self.by_region = rule_sets


async def on_case_opened(event: CaseOpened, meta: EventMeta, uow: UnitOfWork, *, rulebook: Rulebook) -> None:
    region = region_of(event.buurt_code)
    rules = rulebook.by_region.get(region)
    routes = rules.routes_for(event) if rules else []
    now = datetime.now(UTC)
    if not routes:
        await _escalate(uow, event, "casusoverleg", f"no routing rule for {event.category} in {region}", now)
        return
    for route in routes:
        partner = await repository.find_partner(uow.conn, route.partner_type.value, region, route.purpose, now.date())
        if partner is None:
            reason = f"no {route.partner_type.value} partner with a valid agreement for {route.purpose} in {region}"
            await _escalate(uow, event, "casusoverleg", reason, now)
            continue
        referral = ReferralRequested(
            referral_id=uuid4(), case_id=event.case_id, partner_id=partner["partner_id"],
            partner_type=route.partner_type, purpose=route.purpose, legal_basis=route.legal_basis,
            category=event.category, severity=event.severity, buurt_code=event.buurt_code,
            details=minimise(event.details, set(partner["fields"])),
            respond_by=due(event.opened_at, route.respond), resolve_by=due(event.opened_at, route.resolve),
            requested_at=now,
        )
        await repository.add_referral(uow.conn, referral)
        uow.publish(referral, Topics.REFERRALS)
        uow.log_access(AccessRecord(
            action="referral.share", outcome="allowed", organisation_id=partner["partner_id"],
            case_id=event.case_id, referral_id=referral.referral_id, purpose=route.purpose,
            legal_basis=route.legal_basis))


async def _escalate(uow: UnitOfWork, case: CaseOpened, level: str, reason: str, now: datetime) -> None:
    """Nobody can take this part: move the case up its ladder instead of dropping it."""
    escalation = EscalationRaised(escalation_id=uuid4(), case_id=case.case_id, level=level, reason=reason,
                                  raised_at=now)
    await repository.add_escalation(uow.conn, escalation)
    uow.publish(escalation, Topics.REFERRALS)


async def on_partner_registered(event: PartnerRegistered, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_partner(uow.conn, event)


async def on_agreement_changed(event: AgreementChanged, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_agreement(uow.conn, event)


async def on_referral_accepted(event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.set_referral_status(uow.conn, event.referral_id, "accepted", event.accepted_at)


async def on_referral_declined(event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.set_referral_status(uow.conn, event.referral_id, "declined", event.declined_at)


async def on_case_erased(event: CaseErased, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.erase_case(uow.conn, event.case_id)

