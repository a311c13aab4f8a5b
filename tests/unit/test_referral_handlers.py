"""Referral's use cases against an in-memory repository and an injectable clock: a case walks
its whole ladder as the clock moves, a decline is rerouted, closing and repeats behave."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contracts.events import (
    Address,
    CaseClosed,
    CaseDetails,
    CaseOpened,
    ComplaintReceived,
    EscalationRaised,
    EscalationResolved,
    ReferralAccepted,
    ReferralDeclined,
    ReferralExpired,
    ReferralRequested,
    ReferralWithdrawn,
    Severity,
)
from services.referral.adapters import repository
from services.referral.service_layer import handlers
from services.referral.service_layer.rulebook import Rulebook

AMS = ZoneInfo("Europe/Amsterdam")
RULES_DIR = Path(__file__).resolve().parents[2] / "services" / "referral" / "rules"
META: Any = None  # handlers here do not read the envelope


@dataclass
class Store:
    """referral's tables as dicts; the functions below stand in for adapters.repository."""

    partners: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    referrals: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    escalations: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    timers: list[dict[str, Any]] = field(default_factory=list)

    def install(self, mp: pytest.MonkeyPatch) -> None:
        s = self

        async def find_partners(conn, partner_type, region, purpose, today):
            return sorted((p for p in s.partners if p["partner_type"] == partner_type and p["region"] == region
                           and purpose in p["purposes"]), key=lambda p: p["partner_id"])

        async def add_case(conn, case, region, at):
            if case.case_id in s.cases:
                return False
            s.cases[case.case_id] = {"case_id": case.case_id, "region": region, "category": case.category,
                                     "status": "open", "opened": case.model_dump(mode="json")}
            return True

        async def add_erased_case(conn, case_id, at):
            if case_id in s.cases:
                return False
            s.cases[case_id] = {"case_id": case_id, "region": "", "category": "", "status": "closed", "opened": None}
            return True

        async def erase_case(conn, case_id):
            s.cases[case_id].update(opened=None, status="closed")
            s.timers = [t for t in s.timers if t["case_id"] != case_id or t["fired_at"] is not None]

        async def get_case(conn, case_id):
            return s.cases.get(case_id)

        async def set_case_status(conn, case_id, status, at):
            if case_id in s.cases:
                s.cases[case_id]["status"] = status

        async def add_referral(conn, r, rule_name=None, route_type=None, option_index=None):
            s.referrals[r.referral_id] = {"referral_id": r.referral_id, "case_id": r.case_id, "partner_id": r.partner_id,
                                          "status": "requested", "rule_name": rule_name, "route_type": route_type,
                                          "option_index": option_index, "event": r}

        async def get_referral(conn, referral_id):
            return s.referrals.get(referral_id)

        async def set_referral_status(conn, referral_id, status, at):
            s.referrals[referral_id]["status"] = status

        async def partners_tried(conn, case_id, rule_name, route_type):
            return {r["partner_id"] for r in s.referrals.values()
                    if (r["case_id"], r["rule_name"], r["route_type"]) == (case_id, rule_name, route_type)}

        async def routes_referred(conn, case_id):
            return {(r["rule_name"], r["route_type"]) for r in s.referrals.values() if r["case_id"] == case_id}

        async def open_referrals(conn, case_id):
            return [r for r in s.referrals.values()
                    if r["case_id"] == case_id and r["status"] in repository.OPEN_REFERRAL]

        async def add_escalation(conn, e, ladder=None, step=None):
            s.escalations[e.escalation_id] = {"escalation_id": e.escalation_id, "case_id": e.case_id, "level": e.level,
                                              "reason": e.reason, "referral_id": e.referral_id, "ladder": ladder,
                                              "step": step, "owner_partner_id": e.owner_partner_id, "resolved_at": None,
                                              "reason_code": e.reason_code, "response_code": e.response_code}

        async def get_escalation(conn, escalation_id):
            return s.escalations.get(escalation_id)

        async def open_escalations(conn, case_id, referral_id=None):
            return [e for e in s.escalations.values() if e["case_id"] == case_id and e["resolved_at"] is None
                    and (referral_id is None or e["referral_id"] == referral_id)]

        async def repeat_escalation_exists(conn, case_id):
            return any(e["case_id"] == case_id and e["reason_code"] == "herhaalde_meldingen"
                       for e in s.escalations.values())

        async def resolve_escalation(conn, escalation_id, at):
            s.escalations[escalation_id]["resolved_at"] = at

        async def add_timer(conn, kind, case_id, due_at, *, referral_id=None, escalation_id=None):
            s.timers.append({"timer_id": len(s.timers) + 1, "kind": kind, "case_id": case_id, "referral_id": referral_id,
                             "escalation_id": escalation_id, "due_at": due_at, "fired_at": None})

        async def claim_due_timers(conn, now, limit):
            due = [t for t in s.timers if t["fired_at"] is None and t["due_at"] <= now]
            return sorted(due, key=lambda t: (t["due_at"], t["timer_id"]))[:limit]

        async def mark_fired(conn, timer_id, at):
            s.timers[timer_id - 1]["fired_at"] = at

        for fn in (find_partners, add_case, add_erased_case, erase_case, get_case, set_case_status, add_referral, get_referral, set_referral_status,
                   partners_tried, routes_referred, open_referrals, add_escalation, get_escalation, open_escalations,
                   repeat_escalation_exists, resolve_escalation, add_timer, claim_due_timers, mark_fired):
            mp.setattr(repository, fn.__name__, fn)


@dataclass
class Uow:
    conn: Any = None
    events: list[Any] = field(default_factory=list)
    access: list[Any] = field(default_factory=list)

    def publish(self, event: Any, topic: str) -> None:
        self.events.append(event)

    def log_access(self, record: Any) -> None:
        self.access.append(record)

    def now_known(self, kind: str, ident: Any) -> None:
        pass  # the consumer's concern (tests/unit/test_early_events.py)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def partner(partner_id: str, partner_type: str, purposes: list[str], fields: list[str]) -> dict[str, Any]:
    return {"partner_id": partner_id, "partner_type": partner_type, "region": "GM0363", "purposes": purposes,
            "fields": fields}


THURSDAY_BEFORE_KINGSDAY = datetime(2026, 4, 23, 10, 0, tzinfo=AMS)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    s = Store(partners=[
        partner("bb-noord", "buurtbemiddeling", ["buurtbemiddeling"], ["address", "description"]),
        partner("bb-zuid", "buurtbemiddeling", ["buurtbemiddeling"], ["description"]),
        partner("welzijn-west", "welzijn", ["buurtbemiddeling"], ["address"]),
        partner("gemeente-amsterdam", "gemeente", ["casusoverleg", "woonoverlast"], ["address"]),
        partner("wijkteam-noord", "wijkteam", ["zorg-verwaarlozing"], ["address", "household_ref"]),
    ])
    s.install(monkeypatch)
    return s


@pytest.fixture
def clock() -> Clock:
    return Clock(THURSDAY_BEFORE_KINGSDAY)


@pytest.fixture
def ctx(clock: Clock) -> handlers.Context:
    return handlers.Context(Rulebook(RULES_DIR), clock)


def nuisance(opened_at: datetime) -> CaseOpened:
    return CaseOpened(case_id=uuid.uuid4(), corporation_id="corp", category="overlast.geluid", severity=Severity.NORMAL,
                      buurt_code="BU03634501", wijk_code="WK036345", opened_at=opened_at,
                      details=CaseDetails(address=Address(postcode="1024AB", huisnummer=17), description="muziek",
                                          care_signal=None, household_ref="hh-1"))


async def open_case(ctx: handlers.Context, clock: Clock) -> tuple[CaseOpened, ReferralRequested]:
    case = nuisance(clock.now)
    uow = Uow()
    await handlers.on_case_opened(case, META, uow, ctx=ctx)
    [referral] = uow.of(ReferralRequested)
    return case, referral


async def tick(ctx: handlers.Context) -> Uow:
    uow = Uow()
    await handlers.fire_due_timers(uow, ctx)  # type: ignore[arg-type]
    return uow


async def test_the_case_climbs_every_step_of_its_ladder_as_the_clock_moves(store, ctx, clock) -> None:
    case, referral = await open_case(ctx, clock)
    # 5 working days from Thursday 23 April: Fri 24, (weekend, Koningsdag Mon 27) Tue 28 … Fri 1 May
    assert referral.respond_by == datetime(2026, 5, 1, 10, 0, tzinfo=AMS)
    assert referral.partner_id == "bb-noord"

    clock.now = datetime(2026, 4, 30, 23, 59, tzinfo=AMS)
    assert (await tick(ctx)).events == []

    clock.now = referral.respond_by
    fired = await tick(ctx)
    [expired] = fired.of(ReferralExpired)
    assert (expired.deadline, expired.referral_id) == ("respond", referral.referral_id)
    [coordinator] = fired.of(EscalationRaised)
    assert (coordinator.level, coordinator.owner_partner_id) == ("coordinator", "bb-noord")
    assert (await tick(ctx)).events == []  # fired once

    clock.now = datetime(2026, 5, 8, 10, 0, tzinfo=AMS)  # 5 working days later
    climbed = await tick(ctx)
    [resolved] = climbed.of(EscalationResolved)
    assert resolved.escalation_id == coordinator.escalation_id
    [casusoverleg] = climbed.of(EscalationRaised)
    assert (casusoverleg.level, casusoverleg.owner_partner_id) == ("casusoverleg", "gemeente-amsterdam")

    clock.now += timedelta(days=30)
    top = await tick(ctx)
    assert [(e.level, e.owner_partner_id) for e in top.of(EscalationRaised)] == [("woonoverlast", "gemeente-amsterdam")]

    clock.now += timedelta(days=365)
    later = await tick(ctx)
    assert later.of(EscalationRaised) == []  # the top of the ladder; only the resolve deadline expires
    assert [e.deadline for e in later.of(ReferralExpired)] == ["resolve"]


async def test_an_accepted_referral_does_not_escalate_at_its_respond_deadline(store, ctx, clock) -> None:
    case, referral = await open_case(ctx, clock)
    await handlers.on_referral_accepted(
        ReferralAccepted(referral_id=referral.referral_id, case_id=case.case_id, partner_id="bb-noord",
                         accepted_at=clock.now), META, Uow(), ctx=ctx)

    clock.now = referral.respond_by + timedelta(hours=1)

    assert (await tick(ctx)).events == []


async def test_a_late_acceptance_resolves_the_coordinator_escalation(store, ctx, clock) -> None:
    case, referral = await open_case(ctx, clock)
    clock.now = referral.respond_by
    [raised] = (await tick(ctx)).of(EscalationRaised)

    uow = Uow()
    await handlers.on_referral_accepted(
        ReferralAccepted(referral_id=referral.referral_id, case_id=case.case_id, partner_id="bb-noord",
                         accepted_at=clock.now), META, uow, ctx=ctx)

    assert [e.escalation_id for e in uow.of(EscalationResolved)] == [raised.escalation_id]
    clock.now += timedelta(days=30)
    assert (await tick(ctx)).of(EscalationRaised) == []  # the ladder stops


async def decline(ctx: handlers.Context, case: CaseOpened, referral: ReferralRequested, clock: Clock) -> Uow:
    uow = Uow()
    await handlers.on_referral_declined(
        ReferralDeclined(referral_id=referral.referral_id, case_id=case.case_id, partner_id=referral.partner_id,
                         code="geen_capaciteit", text_for_corporation=None, declined_at=clock.now), META, uow, ctx=ctx)
    return uow


async def test_declines_go_to_the_next_partner_then_the_alternative_then_casusoverleg(store, ctx, clock) -> None:
    case, first = await open_case(ctx, clock)

    clock.now = datetime(2026, 12, 23, 15, 0, tzinfo=AMS)  # Wednesday before Christmas
    [second] = (await decline(ctx, case, first, clock)).of(ReferralRequested)
    assert second.partner_id == "bb-zuid"  # another partner of the same type first
    assert second.details.model_dump(exclude_none=True) == {"description": "muziek"}  # its own agreement
    # 5 working days from the decline: 24, (25, 26, weekend) 28, 29, 30, 31 Dec
    assert second.respond_by == datetime(2026, 12, 31, 15, 0, tzinfo=AMS)

    [third] = (await decline(ctx, case, second, clock)).of(ReferralRequested)
    assert (third.partner_id, third.partner_type.value, third.purpose) == ("welzijn-west", "welzijn", "buurtbemiddeling")
    assert third.legal_basis == "AVG art. 6(1)(f); convenant welzijn en buurtbemiddeling"
    assert set(third.details.model_dump(exclude_none=True)) == {"address"}

    last = await decline(ctx, case, third, clock)
    assert last.of(ReferralRequested) == []
    [raised] = last.of(EscalationRaised)
    assert (raised.level, raised.owner_partner_id, raised.referral_id) == (
        "casusoverleg", "gemeente-amsterdam", third.referral_id)
    # codes, not words: the decline's code and its label, the escalation's own code
    assert (raised.reason_code, raised.response_code) == ("afgewezen_geen_alternatief", "geen_capaciteit")
    assert raised.reason == "welzijn-west: afgewezen: geen capaciteit; no alternative partner"
    assert raised.response_text is None


async def test_a_decline_resolves_the_declined_referrals_escalation(store, ctx, clock) -> None:
    case, referral = await open_case(ctx, clock)
    clock.now = referral.respond_by
    [raised] = (await tick(ctx)).of(EscalationRaised)

    uow = await decline(ctx, case, referral, clock)

    assert [e.escalation_id for e in uow.of(EscalationResolved)] == [raised.escalation_id]
    assert [r.partner_id for r in uow.of(ReferralRequested)] == ["bb-zuid"]


REPEAT_RULE = """\
  - name: overlast-herhaald
    match: {category: [overlast.geluid], min_repeat: 2}
    refer:
      - partner_type: wijkteam
        purpose: zorg-verwaarlozing
        legal_basis: "AVG art. 6(1)(e); Wmo 2015 art. 2.3.2"
        respond: {working_days: 5}
        resolve: {working_days: 30}
"""


async def test_repeat_complaints_refer_the_repeat_routes_and_escalate_at_the_third_once(store, clock, tmp_path) -> None:
    shipped = (RULES_DIR / "GM0363-amsterdam.yaml").read_text()
    (tmp_path / "GM0363.yaml").write_text(shipped.replace("\nladders:", REPEAT_RULE + "\nladders:", 1))
    ctx = handlers.Context(Rulebook(tmp_path), clock)
    case, _ = await open_case(ctx, clock)
    raised, referred = [], []
    for count in (2, 3, 4):
        uow = Uow()
        await handlers.on_complaint_received(
            ComplaintReceived(case_id=case.case_id, complaint_id=uuid.uuid4(), corporation_id="corp",
                              category="overlast.stank", buurt_code=case.buurt_code, repeat_count=count,
                              received_at=clock.now), META, uow, ctx=ctx)
        raised.append([(e.level, e.owner_partner_id) for e in uow.of(EscalationRaised)])
        referred.append([(r.partner_id, r.purpose) for r in uow.of(ReferralRequested)])

    assert raised == [[], [("woonoverlast", "gemeente-amsterdam")], []]
    assert referred == [[("wijkteam-noord", "zorg-verwaarlozing")], [], []]  # the min_repeat: 2 rule, once


async def test_closing_withdraws_open_referrals_resolves_escalations_and_silences_timers(store, ctx, clock) -> None:
    case, referral = await open_case(ctx, clock)
    clock.now = referral.respond_by
    [raised] = (await tick(ctx)).of(EscalationRaised)

    uow = Uow()
    await handlers.on_case_closed(CaseClosed(case_id=case.case_id, corporation_id="corp", outcome="opgelost",
                                             closed_at=clock.now), META, uow, ctx=ctx)

    assert [w.referral_id for w in uow.of(ReferralWithdrawn)] == [referral.referral_id]
    assert [r.escalation_id for r in uow.of(EscalationResolved)] == [raised.escalation_id]
    clock.now += timedelta(days=365)
    assert (await tick(ctx)).events == []
