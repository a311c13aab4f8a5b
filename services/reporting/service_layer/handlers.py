"""Reporting's projections (idempotent through the inbox), figures and signal detection."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg

from contracts.events import (
    CaseClosed,
    CaseOpened,
    CaseReopened,
    ComplaintReceived,
    EscalationRaised,
    EscalationResolved,
    ObservationRecorded,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralExpired,
    ReferralRequested,
    SignalDetected,
)
from contracts.topics import Topics
from runtime.consumer import EventMeta, NotYetKnown
from runtime.unit_of_work import UnitOfWork
from services.reporting.adapters import repository
from services.reporting.domain import model
from services.reporting.domain.reference import Reference


class Projections:
    """The event handlers; they need the key that pseudonymises buildings."""

    def __init__(self, location_secret: bytes) -> None:
        self.location_secret = location_secret

    async def case_opened(self, event: CaseOpened, meta: EventMeta, uow: UnitOfWork) -> None:
        address = event.details.address  # used for the building key only, never stored
        location = model.location_key(address, self.location_secret) if address else None
        await repository.add_case(uow.conn, event, location)
        uow.now_known("case", event.case_id)


async def on_complaint_received(event: ComplaintReceived, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.add_complaint(uow.conn, event.complaint_id, event.case_id, event.category, event.buurt_code,
                                   event.repeat_count, event.received_at)


async def on_observation_recorded(event: ObservationRecorded, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.add_observation(uow.conn, event.observation_id, event.category, event.buurt_code,
                                     event.wijk_code, event.recorded_at)


async def on_case_closed(event: CaseClosed, meta: EventMeta, uow: UnitOfWork) -> None:
    if not await repository.close_case(uow.conn, event.case_id, event.closed_at, event.liveability_cost_eur):
        raise NotYetKnown("case", event.case_id)


async def on_case_reopened(event: CaseReopened, meta: EventMeta, uow: UnitOfWork) -> None:
    if not await repository.reopen_case(uow.conn, event.case_id):
        raise NotYetKnown("case", event.case_id)


async def on_referral_requested(event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="requested",
                                     partner_type=event.partner_type.value, requested_at=event.requested_at,
                                     respond_by=event.respond_by)


async def on_referral_accepted(event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="accepted", responded_at=event.accepted_at)


async def on_referral_declined(event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="declined", responded_at=event.declined_at)


async def on_referral_completed(event: ReferralCompleted, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="completed")


async def on_referral_expired(event: ReferralExpired, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="expired",
                                     breach=event.deadline == "respond")


async def on_escalation_raised(event: EscalationRaised, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.add_escalation(uow.conn, event.escalation_id, event.case_id, event.level, event.raised_at)
    uow.now_known("escalation", event.escalation_id)


async def on_escalation_resolved(event: EscalationResolved, meta: EventMeta, uow: UnitOfWork) -> None:
    if not await repository.resolve_escalation(uow.conn, event.escalation_id, event.resolved_at):
        raise NotYetKnown("escalation", event.escalation_id)


# -- figures (every count below 5 suppressed) ---------------------------------------------

COUNTS = ("cases_opened", "referrals", "referrals_accepted", "referrals_declined")


def _suppress(row: dict[str, Any], counts: tuple[str, ...]) -> dict[str, Any]:
    """Counts below 5 become "<5"."""
    return {**row, **{k: model.suppressed(int(row[k])) for k in counts}}


async def buurt_figures(conn: asyncpg.Connection, category: str | None) -> list[dict[str, Any]]:
    rows = await repository.buurt_figures(conn, category)
    return [_suppress(row, COUNTS) for row in rows]


async def case_figures(conn: asyncpg.Connection, wijk: str | None, category: str | None,
                       buurt: str | None) -> list[dict[str, Any]]:
    out = []
    for row in await repository.case_figures(conn, wijk, category, buurt):
        figures = _suppress(row, ("new", "open", "closed", "response_breaches"))
        for k in ("median_days_to_resolve", "p90_days_to_resolve"):  # from fewer than 5 closed cases: withheld
            figures[k] = round(row[k], 1) if row[k] is not None and row["closed"] >= model.SUPPRESS_BELOW else None
        figures["escalations"] = {level: model.suppressed(n) for level, n in (row["escalations"] or {}).items()}
        out.append(figures)
    return out


async def partner_figures(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    out = []
    for row in await repository.partner_figures(conn):
        figures = _suppress(row, ("referrals", "accepted", "declined", "completed", "response_breaches"))
        median = row["median_hours_to_respond"]
        figures["median_hours_to_respond"] = round(median, 1) if median is not None and row["referrals"] >= 5 else None
        out.append(figures)
    return out


async def time_of_day(conn: asyncpg.Connection, wijk: str | None, category: str | None) -> list[dict[str, Any]]:
    return [{**r, "count": model.suppressed(r["count"])} for r in await repository.time_of_day(conn, wijk, category)]


async def caseload(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [_suppress(r, ("open", "closed")) for r in await repository.caseload(conn)]


async def spend(conn: asyncpg.Connection, reference: Reference) -> list[dict[str, Any]]:
    spent = {r["corporation_id"]: r for r in await repository.spend(conn)}
    out = []
    for corporation_id, corp in sorted(reference.corporations.items()):
        vhe = sum(corp.units.values())
        row = spent.get(corporation_id, {"spend_eur": Decimal(0), "closed_with_cost": 0})
        cases = row["closed_with_cost"]
        per_vhe = float(row["spend_eur"]) / vhe if vhe else 0.0
        cap = corp.liveability_cap_eur_per_vhe
        shown = cases == 0 or cases >= model.SUPPRESS_BELOW  # a sum over 1–4 cases could point at a household
        out.append({"corporation_id": corporation_id, "vhe": vhe, "cases_with_cost": model.suppressed(cases),
                    "spend_eur": float(row["spend_eur"]) if shown else None,
                    "spend_per_vhe_eur": round(per_vhe, 2) if shown else None,
                    "cap_per_vhe_eur": cap,
                    "share_of_cap": round(per_vhe / cap, 3) if shown and cap else None})
    return out


async def goals(conn: asyncpg.Connection, reference: Reference) -> list[dict[str, Any]]:
    monthly: dict[str, list[dict[str, Any]]] = {}
    for r in await repository.overlast_per_buurt_month(conn):
        monthly.setdefault(r["buurt_code"], []).append(r)
    out = []
    for goal in reference.goals:
        vhe = reference.units_in(goal.buurt_code)
        series = []
        for r in monthly.get(goal.buurt_code, []):
            # the rate is shown only when the count behind it may be shown
            rate = round(100 * r["cases"] / vhe, 2) if vhe and r["cases"] >= model.SUPPRESS_BELOW else None
            series.append({"month": r["month"], "cases": model.suppressed(r["cases"]), "per_100_vhe": rate,
                           "met": None if rate is None else rate <= goal.target})
        out.append({"buurt_code": goal.buurt_code, "measure": goal.measure, "target": goal.target, "vhe": vhe,
                    "series": series})
    return out


async def signals(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return await repository.signals(conn)


# -- signals --------------------------------------------------------------------------------

async def detect_signals(uow: UnitOfWork, now: datetime | None = None) -> list[SignalDetected]:
    """Look for the four patterns; publish each finding once (per kind, scope and day)."""
    now = now or datetime.now(UTC)
    today = now.date()
    findings: list[model.Finding] = []
    d90, d30 = now - timedelta(days=90), now - timedelta(days=30)
    for r in await repository.repeat_locations(uow.conn, d90):
        findings.append(model.hotspot(r["location_key"], r["buurt_code"], r["complaints"], r["families"],
                                      d90.date(), today))
    for r in await repository.resolve_times(uow.conn, d90, now - timedelta(days=365)):
        findings.append(model.stuck(r["buurt_code"], r["category"], r["median"], r["n"], r["usual_median"],
                                    r["usual_n"], d90.date(), today))
    for r in await repository.neglect_and_complaints(uow.conn, d30, now - timedelta(days=60)):
        findings.append(model.silent_decline(r["buurt_code"], r["observations_now"], r["observations_before"],
                                             r["complaints_now"], r["complaints_before"], d30.date(), today))
    for dimension in ("buurt", "group"):
        for r in await repository.arrears_shares(uow.conn, d90, now - timedelta(days=180), dimension):
            findings.append(model.arrears_trend(r["scope"], r["buurt_code"] if dimension == "buurt" else None,
                                                r["arrears_now"], r["cases_now"], r["arrears_before"],
                                                r["cases_before"], d90.date(), today))
    published = []
    for f in filter(None, findings):
        signal = SignalDetected(signal_id=uuid4(), kind=f.kind, scope=f.scope, buurt_code=f.buurt_code,
                                period_start=f.period_start, period_end=f.period_end, evidence=f.evidence,
                                summary=f.summary, detected_at=now)
        if await repository.record_signal(uow.conn, f.key, signal.signal_id, f.kind, f.scope, f.buurt_code,
                                          f.evidence, f.summary, f.period_start, f.period_end, now):
            uow.publish(signal, Topics.SIGNALS)
            published.append(signal)
    return published


