"""Reporting's projections (idempotent through the inbox), protected figures and signal detection."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from contracts.events import (
    CaseClosed,
    CaseErased,
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
from services.reporting.domain.access import Reader
from services.reporting.domain.disclosure import Disclosure, rounded_median
from services.reporting.domain.reference import Reference


class Projections:
    """The event handlers; they need the key that gives every fact its record key
    (domain/disclosure.py)."""

    def __init__(self, disclosure: Disclosure) -> None:
        self.disclosure = disclosure

    def _key(self, kind: str, record_id: UUID) -> int:
        return self.disclosure.record_key(kind, record_id)

    async def case_opened(self, event: CaseOpened, meta: EventMeta, uow: UnitOfWork) -> None:
        # the building is intake's random reference; the address (if the event still has one) is never read
        await repository.add_case(uow.conn, event, self._key("case", event.case_id))
        uow.now_known("case", event.case_id)

    async def complaint_received(self, event: ComplaintReceived, meta: EventMeta, uow: UnitOfWork) -> None:
        await repository.add_complaint(uow.conn, event.complaint_id, event.case_id, event.category, event.buurt_code,
                                       event.repeat_count, event.received_at,
                                       self._key("complaint", event.complaint_id))

    async def observation_recorded(self, event: ObservationRecorded, meta: EventMeta, uow: UnitOfWork) -> None:
        await repository.add_observation(uow.conn, event.observation_id, event.category, event.buurt_code,
                                         event.wijk_code, event.recorded_at,
                                         self._key("observation", event.observation_id))

    async def case_closed(self, event: CaseClosed, meta: EventMeta, uow: UnitOfWork) -> None:
        if not await repository.close_case(uow.conn, event.case_id, event.closed_at, event.liveability_cost_eur):
            raise NotYetKnown("case", event.case_id)

    async def case_reopened(self, event: CaseReopened, meta: EventMeta, uow: UnitOfWork) -> None:
        if not await repository.reopen_case(uow.conn, event.case_id):
            raise NotYetKnown("case", event.case_id)

    async def _referral(self, referral_id: UUID, case_id: UUID, partner_id: str, status: str,
                        uow: UnitOfWork, **kw: Any) -> None:
        await repository.record_referral(uow.conn, referral_id=referral_id, case_id=case_id, partner_id=partner_id,
                                         status=status, record_key=self._key("referral", referral_id), **kw)

    async def referral_requested(self, event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
        await self._referral(event.referral_id, event.case_id, event.partner_id, "requested", uow,
                             partner_type=event.partner_type.value, requested_at=event.requested_at,
                             respond_by=event.respond_by)

    async def referral_accepted(self, event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork) -> None:
        await self._referral(event.referral_id, event.case_id, event.partner_id, "accepted", uow,
                             responded_at=event.accepted_at)

    async def referral_declined(self, event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork) -> None:
        await self._referral(event.referral_id, event.case_id, event.partner_id, "declined", uow,
                             responded_at=event.declined_at)

    async def referral_completed(self, event: ReferralCompleted, meta: EventMeta, uow: UnitOfWork) -> None:
        await self._referral(event.referral_id, event.case_id, event.partner_id, "completed", uow)

    async def referral_expired(self, event: ReferralExpired, meta: EventMeta, uow: UnitOfWork) -> None:
        await self._referral(event.referral_id, event.case_id, event.partner_id, "expired", uow,
                             breach=event.deadline == "respond")

    async def escalation_raised(self, event: EscalationRaised, meta: EventMeta, uow: UnitOfWork) -> None:
        await repository.add_escalation(uow.conn, event.escalation_id, event.case_id, event.level, event.raised_at,
                                        self._key("escalation", event.escalation_id))
        uow.now_known("escalation", event.escalation_id)

    async def case_erased(self, event: CaseErased, meta: EventMeta, uow: UnitOfWork) -> None:
        """Every fact of the case goes. Published figures stay protected: they are the
        rounding of whatever the current records are, and one record fewer is one more new draw."""
        await repository.erase_case(uow.conn, event.case_id)

    async def escalation_resolved(self, event: EscalationResolved, meta: EventMeta, uow: UnitOfWork) -> None:
        if not await repository.resolve_escalation(uow.conn, event.escalation_id, event.resolved_at):
            raise NotYetKnown("escalation", event.escalation_id)


# -- figures: every count, sum, rate and median through the disclosure control -------------------

def _protect(d: Disclosure, row: dict[str, Any], counts: tuple[str, ...]) -> dict[str, Any]:
    """Counts become their published values; the cell keys behind them are dropped."""
    out = {k: v for k, v in row.items() if not k.endswith("_key")}
    return out | {k: d.count(int(row[k]), int(row[f"{k}_key"])) for k in counts}


BUURT_COUNTS = ("cases_opened", "referrals", "referrals_accepted", "referrals_declined")


async def buurt_figures(conn: asyncpg.Connection, d: Disclosure, category: str | None) -> list[dict[str, Any]]:
    rows = [_protect(d, row, BUURT_COUNTS) for row in await repository.buurt_figures(conn, category)]
    return [r for r in rows if r["cases_opened"]]  # a row that rounds to nothing is not shown at all


async def case_figures(conn: asyncpg.Connection, d: Disclosure, wijk: str | None, category: str | None,
                       buurt: str | None) -> list[dict[str, Any]]:
    out = []
    for row in await repository.case_figures(conn, wijk, category, buurt):
        figures = _protect(d, row, ("new", "open", "closed", "response_breaches"))
        if not figures["new"]:
            continue  # rounds to zero: no row, as when there is nothing (its existence would tell "1–4")
        for k in ("median_days_to_resolve", "p90_days_to_resolve"):
            figures[k] = rounded_median(row[k], figures["closed"])
        levels = {level: d.count(int(n), int(key)) for level, (n, key) in (row["escalations"] or {}).items()}
        figures["escalations"] = {level: n for level, n in levels.items() if n}
        out.append(figures)
    return out


async def partner_figures(conn: asyncpg.Connection, d: Disclosure, reader: Reader) -> list[dict[str, Any]]:
    out = []
    for row in await repository.partner_figures(conn, reader.partner_scope()):
        figures = _protect(d, row, ("referrals", "accepted", "declined", "completed", "response_breaches"))
        if figures["referrals"]:
            figures["median_hours_to_respond"] = rounded_median(row["median_hours_to_respond"], figures["referrals"])
            out.append(figures)
    return out


async def time_of_day(conn: asyncpg.Connection, d: Disclosure, wijk: str | None,
                      category: str | None) -> list[dict[str, Any]]:
    """The whole weekday × hour grid, zeros included: which cells exist tells nothing."""
    found = {(r["weekday"], r["hour"], r["kind"]): r for r in await repository.time_of_day(conn, wijk, category)}
    return [{"weekday": day, "hour": hour, "kind": kind,
             "count": d.count(int(r["count"]), int(r["count_key"])) if (r := found.get((day, hour, kind))) else 0}
            for day in range(1, 8) for hour in range(24) for kind in ("complaint", "observation")]


async def caseload(conn: asyncpg.Connection, d: Disclosure, reader: Reader) -> list[dict[str, Any]]:
    """Per professional, only for the professional's own corporation."""
    rows = [_protect(d, r, ("open", "closed")) for r in await repository.caseload(conn, reader.corporation_scope())]
    return [r for r in rows if r["open"] or r["closed"]]


async def spend(conn: asyncpg.Connection, d: Disclosure, reference: Reference, reader: Reader) -> list[dict[str, Any]]:
    spent = {r["corporation_id"]: r for r in await repository.spend(conn)}
    out = []
    for corporation_id, corp in sorted(reference.corporations.items()):
        if not reader.sees_spend_of(corporation_id):
            continue
        vhe = sum(corp.units.values())
        row = spent.get(corporation_id, {"spend_eur": Decimal(0), "closed_with_cost": 0, "closed_with_cost_key": 0})
        households = d.count(int(row["closed_with_cost"]), int(row["closed_with_cost_key"]))
        total = d.amount(row["spend_eur"], int(row["closed_with_cost_key"]), households)
        per_vhe = total / vhe if total is not None and vhe else None
        cap = corp.liveability_cap_eur_per_vhe
        out.append({"corporation_id": corporation_id, "vhe": vhe, "cases_with_cost": households,
                    "spend_eur": total, "spend_per_vhe_eur": None if per_vhe is None else round(per_vhe, 2),
                    "cap_per_vhe_eur": cap,
                    "share_of_cap": round(per_vhe / cap, 3) if per_vhe is not None and cap else None})
    return out


async def goals(conn: asyncpg.Connection, d: Disclosure, reference: Reference) -> list[dict[str, Any]]:
    monthly: dict[str, list[dict[str, Any]]] = {}
    for r in await repository.overlast_per_buurt_month(conn):
        monthly.setdefault(r["buurt_code"], []).append(r)
    out = []
    for goal in reference.goals:
        vhe = reference.units_in(goal.buurt_code)
        series = []
        for r in monthly.get(goal.buurt_code, []):
            cases = d.count(int(r["cases"]), int(r["cases_key"]))
            # a rate from the protected count over public reference data (VHE)
            rate = round(100 * cases / vhe, 2) if vhe and cases else None
            series.append({"month": r["month"], "cases": cases, "per_100_vhe": rate,
                           "met": None if rate is None else rate <= goal.target})
        out.append({"buurt_code": goal.buurt_code, "measure": goal.measure, "target": goal.target, "vhe": vhe,
                    "series": series})
    return out


async def signals(conn: asyncpg.Connection, reader: Reader) -> list[dict[str, Any]]:
    """A hotspot names its buurt; the building reference only for a corporation with cases
    there (it can resolve it at intake). Everyone else gets the buurt only."""
    out = []
    for row in await repository.signals(conn):
        owners = row.pop("owners") or []
        if not reader.owns_building(owners):
            row["building_ref"] = None
        out.append(row)
    return out


# -- signals --------------------------------------------------------------------------------

async def detect_signals(uow: UnitOfWork, d: Disclosure, now: datetime | None = None) -> list[SignalDetected]:
    """Look for the four patterns on protected counts; publish each finding once (per kind,
    scope and day)."""
    now = now or datetime.now(UTC)
    today = now.date()
    findings: list[model.Finding] = []
    d90, d30 = now - timedelta(days=90), now - timedelta(days=30)

    def p(r: Any, name: str) -> int:
        return d.count(int(r[name]), int(r[f"{name}_key"]))

    for r in await repository.repeat_buildings(uow.conn, d90):
        findings.append(model.hotspot(r["building_ref"], r["buurt_code"], p(r, "complaints"), r["families"],
                                      d90.date(), today, owners=tuple(r["owners"])))
    for r in await repository.resolve_times(uow.conn, d90, now - timedelta(days=365)):
        findings.append(model.stuck(r["buurt_code"], r["category"], r["median"], p(r, "n"), r["usual_median"],
                                    p(r, "usual_n"), d90.date(), today))
    for r in await repository.neglect_and_complaints(uow.conn, d30, now - timedelta(days=60)):
        findings.append(model.silent_decline(r["buurt_code"], p(r, "observations_now"), p(r, "observations_before"),
                                             p(r, "complaints_now"), p(r, "complaints_before"), d30.date(), today))
    for dimension in ("buurt", "group"):
        for r in await repository.arrears_shares(uow.conn, d90, now - timedelta(days=180), dimension):
            findings.append(model.arrears_trend(r["scope"], r["buurt_code"] if dimension == "buurt" else None,
                                                p(r, "arrears_now"), p(r, "cases_now"), p(r, "arrears_before"),
                                                p(r, "cases_before"), d90.date(), today))
    published = []
    for f in filter(None, findings):
        signal = SignalDetected(signal_id=uuid4(), kind=f.kind, scope=f.scope, buurt_code=f.buurt_code,
                                period_start=f.period_start, period_end=f.period_end, evidence=f.evidence,
                                summary=f.summary, detected_at=now)
        if await repository.record_signal(uow.conn, f.key, signal.signal_id, f.kind, f.scope, f.buurt_code,
                                          f.evidence, f.summary, f.period_start, f.period_end, now,
                                          f.building_ref, list(f.owners)):
            uow.publish(signal, Topics.SIGNALS)
            published.append(signal)
    return published
