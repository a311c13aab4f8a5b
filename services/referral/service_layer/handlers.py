"""Referral's use cases: route a case, follow the partners' answers, and move the case up its
ladder when a deadline passes, a partner declines with nobody after it, or complaints repeat.

Every handler takes the time from `ctx.clock`, so tests can put the clock anywhere."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg

from contracts.events import (
    AgreementChanged,
    CaseClosed,
    CaseDetails,
    CaseErased,
    CaseOpened,
    CaseReopened,
    ComplaintReceived,
    EscalationRaised,
    EscalationResolved,
    PartnerRegistered,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralExpired,
    ReferralProgressed,
    ReferralRequested,
    ReferralWithdrawn,
)
from contracts.reason_codes import ResponseKind, label
from contracts.topics import Topics
from runtime.consumer import EventMeta, NotYetKnown
from runtime.metrics import DEADLINE_BREACHES
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.referral.adapters import repository
from services.referral.domain.deadlines import due
from services.referral.domain.ladder import (
    Candidate,
    Rung,
    breached,
    missed_deadline,
    next_candidate,
    nobody_to_take_it,
    repeat_threshold_reached,
)
from services.referral.domain.minimise import minimise, region_of
from services.referral.domain.rules import DEFAULT_LADDER, Ladder, Route
from services.referral.service_layer.rulebook import Rulebook

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    rulebook: Rulebook
    clock: Clock = field(default=utc_now)


def _ladder(ctx: Context, region: str, category: str, name: str | None = None) -> Ladder:
    rules = ctx.rulebook.for_region(region)
    if rules is None:
        return DEFAULT_LADDER
    by_name = next((ladder for ladder in rules.ladders if ladder.name == name), None)
    return by_name or rules.ladder_for(category)


# -- routing -------------------------------------------------------------------------------


async def on_case_opened(event: CaseOpened, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    now = ctx.clock()
    region = region_of(event.buurt_code)
    if event.details is None:  # its data key is gone (a replay after erasure): nothing to route
        await repository.add_case(uow.conn, event, region, now, status="closed")
        uow.now_known("case", event.case_id)
        return
    new = await repository.add_case(uow.conn, event, region, now)
    uow.now_known("case", event.case_id)  # complaints or a close that came first apply now
    if not new:
        return  # known already (e.g. erased before its case.opened arrived): route nothing
    rules = ctx.rulebook.for_region(region)
    routes = rules.matching_routes(event) if rules else []
    ladder = _ladder(ctx, region, event.category)
    if not routes:
        await _escalate(uow, event.case_id, region, nobody_to_take_it(ladder),
                        f"no routing rule for {event.category} in {region}", now, reason_code="geen_regel")
        return
    for rule_name, route in routes:
        partners, fields = await _partners_for(uow.conn, route, region, now)
        candidate = next_candidate(route, partners, tried=set())
        if candidate is None:
            reason = f"no {route.partner_type.value} partner with a valid agreement for {route.purpose} in {region}"
            await _escalate(uow, event.case_id, region, nobody_to_take_it(ladder), reason, now,
                            reason_code="geen_partner")
            continue
        await _refer(uow, event, rule_name, route, candidate, fields[candidate.partner_id], now)


async def _partners_for(conn: asyncpg.Connection, route: Route, region: str,
                        now: datetime) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Per option of the route, the partners that may take it; and each partner's agreed fields."""
    per_option: list[list[str]] = []
    fields: dict[str, list[str]] = {}
    for option in route.options():
        rows = await repository.find_partners(conn, option.partner_type.value, region, option.purpose, now.date())
        per_option.append([r["partner_id"] for r in rows])
        for r in rows:
            fields.setdefault(r["partner_id"], list(r["fields"]))
    return per_option, fields


async def _refer(uow: UnitOfWork, case: CaseOpened, rule_name: str, route: Route, candidate: Candidate,
                 allowed_fields: list[str], now: datetime) -> None:
    """Deadlines run from the moment the partner is asked, not from when the case was opened:
    a partner cannot be late for a referral it has not had (rerouting, replayed or late events)."""
    option = candidate.option
    referral = ReferralRequested(
        referral_id=uuid4(), case_id=case.case_id, partner_id=candidate.partner_id,
        partner_type=option.partner_type, purpose=option.purpose, legal_basis=option.legal_basis,
        category=case.category, severity=case.severity, buurt_code=case.buurt_code,
        details=minimise(case.details or CaseDetails(), set(allowed_fields)),
        respond_by=due(now, route.respond), resolve_by=due(now, route.resolve), requested_at=now,
    )
    await repository.add_referral(uow.conn, referral, rule_name, route.partner_type.value, candidate.option_index)
    uow.now_known("referral", referral.referral_id)
    await repository.add_timer(uow.conn, "respond", case.case_id, referral.respond_by, referral_id=referral.referral_id)
    await repository.add_timer(uow.conn, "resolve", case.case_id, referral.resolve_by, referral_id=referral.referral_id)
    uow.publish(referral, Topics.REFERRALS)
    uow.log_access(AccessRecord(
        action="referral.share", outcome="allowed", organisation_id=candidate.partner_id,
        case_id=case.case_id, referral_id=referral.referral_id, purpose=option.purpose,
        legal_basis=option.legal_basis))


# -- the ladder ------------------------------------------------------------------------------


async def _escalate(uow: UnitOfWork, case_id: UUID, region: str, rung: Rung, reason: str, now: datetime, *,
                    reason_code: str, referral_id: UUID | None = None, partner_id: str | None = None,
                    response_code: str | None = None) -> EscalationRaised:
    """Move the case up to `rung`; if the step has a time limit, a ladder timer takes it further."""
    step = rung.step
    owner = partner_id
    if step.owner is not None:
        owners = await repository.find_partners(uow.conn, step.owner.partner_type.value, region,
                                                step.owner.purpose, now.date())
        owner = owners[0]["partner_id"] if owners else None
    escalation = EscalationRaised(escalation_id=uuid4(), case_id=case_id, level=step.level, reason=reason,
                                  owner_partner_id=owner, referral_id=referral_id, raised_at=now,
                                  reason_code=reason_code, response_code=response_code)
    await repository.add_escalation(uow.conn, escalation, rung.ladder.name, rung.index)
    uow.publish(escalation, Topics.REFERRALS)
    if step.next_after is not None:
        await repository.add_timer(uow.conn, "ladder", case_id, due(now, step.next_after),
                                   escalation_id=escalation.escalation_id)
    return escalation


async def _resolve_open(uow: UnitOfWork, case_id: UUID, reason: str, now: datetime,
                        referral_id: UUID | None = None) -> None:
    for row in await repository.open_escalations(uow.conn, case_id, referral_id):
        await repository.resolve_escalation(uow.conn, row["escalation_id"], now)
        uow.publish(EscalationResolved(escalation_id=row["escalation_id"], case_id=case_id, reason=reason,
                                       resolved_at=now), Topics.REFERRALS)


async def on_complaint_received(event: ComplaintReceived, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    """A repeat complaint: routes of rules that match from this repeat count on (`min_repeat`)
    are referred; the repeat threshold (e.g. the third overlast complaint about one address in
    90 days, as intake counts them) moves the case straight to its ladder's threshold step, once."""
    case = await repository.get_case(uow.conn, event.case_id)
    if case is None:
        raise NotYetKnown("case", event.case_id)  # parked until case.opened; never dropped
    if case["status"] != "open" or event.repeat_count < 2:
        return
    now = ctx.clock()
    rules = ctx.rulebook.for_region(case["region"])
    if rules is not None and case["opened"] is not None:
        opened = CaseOpened.model_validate(case["opened"])
        referred = await repository.routes_referred(uow.conn, event.case_id)
        for rule_name, route in rules.matching_routes(opened, event.repeat_count):
            if (rule_name, route.partner_type.value) in referred:
                continue
            partners, fields = await _partners_for(uow.conn, route, case["region"], now)
            candidate = next_candidate(route, partners, tried=set())
            if candidate is not None:
                await _refer(uow, opened, rule_name, route, candidate, fields[candidate.partner_id], now)
    rung = repeat_threshold_reached(_ladder(ctx, case["region"], event.category), event.repeat_count)
    if rung is None or await repository.repeat_escalation_exists(uow.conn, event.case_id):
        return
    reason = f"repeat threshold: complaint {event.repeat_count} about this address ({event.category})"
    await _escalate(uow, event.case_id, case["region"], rung, reason, now, reason_code="herhaalde_meldingen")


async def fire_due_timers(uow: UnitOfWork, ctx: Context, limit: int = 100) -> int:
    """Claim due timers (locked, skipping those another instance holds) and act on them in this
    transaction: the escalation, its outbox row and the timer's `fired_at` commit together."""
    now = ctx.clock()
    timers = await repository.claim_due_timers(uow.conn, now, limit)
    for timer in timers:
        await _fire(uow, ctx, timer, now)
        await repository.mark_fired(uow.conn, timer["timer_id"], now)
    return len(timers)


async def _fire(uow: UnitOfWork, ctx: Context, timer: asyncpg.Record, now: datetime) -> None:
    case = await repository.get_case(uow.conn, timer["case_id"])
    if case is None or case["status"] != "open":
        return
    if timer["kind"] == "ladder":
        await _climb(uow, ctx, case, timer["escalation_id"], now)
        return
    deadline = timer["kind"]
    referral = await repository.get_referral(uow.conn, timer["referral_id"])
    if referral is None or not breached(deadline, referral["status"]):
        return
    DEADLINE_BREACHES.labels(deadline).inc()
    uow.publish(ReferralExpired(referral_id=referral["referral_id"], case_id=case["case_id"],
                                partner_id=referral["partner_id"], deadline=deadline, due_at=timer["due_at"],
                                expired_at=now), Topics.REFERRALS)
    if await repository.open_escalations(uow.conn, case["case_id"], referral["referral_id"]):
        return  # already on the ladder for this referral; the ladder timer takes it further
    reason = f"{deadline} deadline of {referral['partner_id']} passed at {timer['due_at'].isoformat()}"
    rung = missed_deadline(_ladder(ctx, case["region"], case["category"]))
    await _escalate(uow, case["case_id"], case["region"], rung, reason, now, reason_code="termijn_verstreken",
                    referral_id=referral["referral_id"], partner_id=referral["partner_id"])


async def _climb(uow: UnitOfWork, ctx: Context, case: asyncpg.Record, escalation_id: UUID, now: datetime) -> None:
    """Still nothing at this step when its time is up: the next step, and this one is superseded."""
    escalation = await repository.get_escalation(uow.conn, escalation_id)
    if escalation is None or escalation["resolved_at"] is not None:
        return
    ladder = _ladder(ctx, case["region"], case["category"], escalation["ladder"])
    index = min(escalation["step"] or 0, len(ladder.steps) - 1)
    above = Rung(ladder, index).above()
    if above is None:
        return
    await repository.resolve_escalation(uow.conn, escalation_id, now)
    uow.publish(EscalationResolved(escalation_id=escalation_id, case_id=case["case_id"],
                                   reason=f"moved up to {above.step.level}", resolved_at=now), Topics.REFERRALS)
    reason = f"no resolution at {escalation['level']} in time"
    await _escalate(uow, case["case_id"], case["region"], above, reason, now, reason_code="niet_opgelost_op_niveau",
                    referral_id=escalation["referral_id"], partner_id=escalation["owner_partner_id"],
                    response_code=escalation["response_code"])


# -- partners' answers ---------------------------------------------------------------------------


async def _referral(uow: UnitOfWork, referral_id: UUID) -> asyncpg.Record:
    """The referral a partner answers; an answer that overtook it waits (parked)."""
    referral = await repository.get_referral(uow.conn, referral_id)
    if referral is None:
        raise NotYetKnown("referral", referral_id)
    return referral


async def on_referral_accepted(event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    referral = await _referral(uow, event.referral_id)
    if referral["status"] != "requested":
        return
    await repository.set_referral_status(uow.conn, event.referral_id, "accepted", event.accepted_at)
    await _resolve_open(uow, event.case_id, f"{event.partner_id} accepted", ctx.clock(), event.referral_id)


async def on_referral_progressed(event: ReferralProgressed, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    referral = await _referral(uow, event.referral_id)
    if referral["status"] in ("requested", "accepted"):
        await repository.set_referral_status(uow.conn, event.referral_id, "progressed", event.progressed_at)


async def on_referral_completed(event: ReferralCompleted, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    referral = await _referral(uow, event.referral_id)
    if referral["status"] not in ("requested", "accepted", "progressed"):
        return
    await repository.set_referral_status(uow.conn, event.referral_id, "completed", event.completed_at)
    await _resolve_open(uow, event.case_id, f"{event.partner_id} completed", ctx.clock(), event.referral_id)


async def on_referral_declined(event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    """A decline goes to the route's next partner; with nobody left, to casusoverleg."""
    referral = await _referral(uow, event.referral_id)
    if referral["status"] not in ("requested", "accepted", "progressed"):
        return
    now = ctx.clock()
    await repository.set_referral_status(uow.conn, event.referral_id, "declined", event.declined_at)
    await _resolve_open(uow, event.case_id, f"{event.partner_id} declined", now, event.referral_id)
    case = await repository.get_case(uow.conn, event.case_id)
    if case is None or case["status"] != "open" or case["opened"] is None:
        return
    region = case["region"]
    rules = ctx.rulebook.for_region(region)
    route = rules.route(referral["rule_name"], referral["route_type"]) if rules and referral["rule_name"] else None
    if route is not None:
        partners, fields = await _partners_for(uow.conn, route, region, now)
        tried = await repository.partners_tried(uow.conn, event.case_id, referral["rule_name"], referral["route_type"])
        candidate = next_candidate(route, partners, tried)
        if candidate is not None:
            opened = CaseOpened.model_validate(case["opened"])
            await _refer(uow, opened, referral["rule_name"], route, candidate, fields[candidate.partner_id], now)
            return
    # Codes only: the partner's own words are not referral's to pass on (partners adds them
    # to the owner's inbox copy when the partner's agreement names that level).
    reason = f"{event.partner_id}: {label(ResponseKind.DECLINE, event.code)}; no alternative partner"
    await _escalate(uow, event.case_id, region, nobody_to_take_it(_ladder(ctx, region, case["category"])), reason,
                    now, reason_code="afgewezen_geen_alternatief", referral_id=event.referral_id,
                    response_code=event.code)


# -- the case's life ------------------------------------------------------------------------


async def on_case_closed(event: CaseClosed, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    """Closing a case withdraws its open referrals and resolves its open escalations."""
    await _known_case(uow, event.case_id)
    now = ctx.clock()
    await repository.set_case_status(uow.conn, event.case_id, "closed", now)
    for row in await repository.open_referrals(uow.conn, event.case_id):
        await repository.set_referral_status(uow.conn, row["referral_id"], "withdrawn", now)
        uow.publish(ReferralWithdrawn(referral_id=row["referral_id"], case_id=event.case_id,
                                      partner_id=row["partner_id"], reason=f"case closed: {event.outcome}",
                                      withdrawn_at=now), Topics.REFERRALS)
    await _resolve_open(uow, event.case_id, f"case closed: {event.outcome}", now)


async def on_case_reopened(event: CaseReopened, meta: EventMeta, uow: UnitOfWork, *, ctx: Context) -> None:
    await _known_case(uow, event.case_id)
    await repository.set_case_status(uow.conn, event.case_id, "open", ctx.clock())


async def _known_case(uow: UnitOfWork, case_id: UUID) -> None:
    if await repository.get_case(uow.conn, case_id) is None:
        raise NotYetKnown("case", case_id)


async def on_case_erased(event: CaseErased, meta: EventMeta, uow: UnitOfWork) -> None:
    """Erasure needs no case.opened first: an unknown case is remembered as erased, so a
    case.opened that comes later (another order, a refill) routes nothing."""
    if await repository.add_erased_case(uow.conn, event.case_id, event.erased_at):
        uow.now_known("case", event.case_id)
    await repository.erase_case(uow.conn, event.case_id)
    await uow.erase_case_records(event.case_id)  # the referrals it published held case details


async def on_partner_registered(event: PartnerRegistered, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_partner(uow.conn, event)


async def on_agreement_changed(event: AgreementChanged, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.upsert_agreement(uow.conn, event)
