"""Reporting's JSON API. No personal data; every figure is published under the disclosure
control of domain/disclosure.py (counts are multiples of 5), and spend and caseload are
scoped to the organisation they belong to (domain/access.py)."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from runtime.auth import Principal, admin, principal
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.reporting.domain.access import Reader
from services.reporting.domain.disclosure import Disclosure
from services.reporting.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["kpis"])

Count = int  # a published count: a multiple of 5, within 4 of the true count


class BuurtFigures(BaseModel):
    buurt_code: str
    category: str
    cases_opened: Count
    referrals: Count
    referrals_accepted: Count
    referrals_declined: Count


class CaseFigures(BaseModel):
    buurt_code: str
    wijk_code: str
    category: str
    month: str
    new: Count
    open: Count
    closed: Count
    median_days_to_resolve: float | None
    p90_days_to_resolve: float | None
    response_breaches: Count
    escalations: dict[str, Count]


class PartnerFigures(BaseModel):
    partner_id: str
    partner_type: str | None
    month: str
    referrals: Count
    accepted: Count
    declined: Count
    completed: Count
    response_breaches: Count
    median_hours_to_respond: float | None


class HourFigure(BaseModel):
    weekday: int
    hour: int
    kind: str
    count: Count


class Caseload(BaseModel):
    professional: str
    open: Count
    closed: Count


class Spend(BaseModel):
    corporation_id: str
    vhe: int
    cases_with_cost: Count
    spend_eur: float | None
    spend_per_vhe_eur: float | None
    cap_per_vhe_eur: float
    share_of_cap: float | None


class GoalPoint(BaseModel):
    month: str
    cases: Count
    per_100_vhe: float | None
    met: bool | None


class Goal(BaseModel):
    buurt_code: str
    measure: str
    target: float
    vhe: int
    series: list[GoalPoint]


class Signal(BaseModel):
    signal_id: UUID
    kind: str
    scope: str
    buurt_code: str | None
    building_ref: str | None = None  # a hotspot's building, for a corporation with cases there only
    evidence: dict[str, Any]
    summary: str
    period_start: date
    period_end: date
    detected_at: datetime


async def reader(p: Principal = Depends(principal)) -> Reader:
    return Reader.of(p)


def disclosure(request: Request) -> Disclosure:
    return request.app.state.disclosure


@router.get("/kpis/buurten", response_model=list[BuurtFigures])
async def buurt_figures(category: str | None = None, _: Reader = Depends(reader),
                        d: Disclosure = Depends(disclosure),
                        rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await handlers.buurt_figures(conn, d, category)


@router.get("/kpis/cases", response_model=list[CaseFigures])
async def case_figures(wijk: str | None = None, category: str | None = None, buurt: str | None = None,
                       _: Reader = Depends(reader), d: Disclosure = Depends(disclosure),
                       rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Per buurt, category and month: new, open, closed, time to resolve, breaches, escalations."""
    async with rt.pool.acquire() as conn:
        return await handlers.case_figures(conn, d, wijk, category, buurt)


@router.get("/kpis/partners", response_model=list[PartnerFigures])
async def partner_figures(who: Reader = Depends(reader), d: Disclosure = Depends(disclosure),
                          rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Per partner and month; a partner sees only its own rows."""
    async with rt.pool.acquire() as conn:
        return await handlers.partner_figures(conn, d, who)


@router.get("/kpis/time-of-day", response_model=list[HourFigure])
async def time_of_day(wijk: str | None = None, category: str | None = None, _: Reader = Depends(reader),
                      d: Disclosure = Depends(disclosure),
                      rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Complaints and observations by weekday (1 = Monday) and hour, Dutch time."""
    async with rt.pool.acquire() as conn:
        return await handlers.time_of_day(conn, d, wijk, category)


@router.get("/kpis/caseload", response_model=list[Caseload])
async def caseload(who: Reader = Depends(reader), d: Disclosure = Depends(disclosure),
                   rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Open/closed cases per professional of the caller's own corporation (corporations only)."""
    if not who.sees_caseload:
        raise HTTPException(403, "caseload per professional is only for the professional's own corporation")
    async with rt.pool.acquire() as conn:
        return await handlers.caseload(conn, d, who)


@router.get("/kpis/spend", response_model=list[Spend])
async def spend(request: Request, who: Reader = Depends(reader), d: Disclosure = Depends(disclosure),
                rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Liveability spend per VHE against the cap of the prestatieafspraken: a corporation its
    own, the platform's beheer all, partners and police none."""
    if not who.sees_spend:
        raise HTTPException(403, "spend is only for the corporation it belongs to")
    async with rt.pool.acquire() as conn:
        return await handlers.spend(conn, d, request.app.state.reference, who)


@router.get("/kpis/goals", response_model=list[Goal])
async def goals(request: Request, _: Reader = Depends(reader), d: Disclosure = Depends(disclosure),
                rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await handlers.goals(conn, d, request.app.state.reference)


@router.get("/signals", response_model=list[Signal], tags=["signals"])
async def signals(who: Reader = Depends(reader), rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Hotspots name the buurt; the building reference (resolvable at intake's
    /v1/buildings/{ref}) only to a corporation with cases there."""
    async with rt.pool.acquire() as conn:
        return await handlers.signals(conn, who)


@router.post("/admin/signals/detect", response_model=list[Signal], tags=["admin"])
async def detect_now(_: Principal = Depends(admin), d: Disclosure = Depends(disclosure),
                     rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Run the signal detection now (it also runs on a timer); returns what is new."""
    async with rt.unit_of_work() as uow:
        found = await handlers.detect_signals(uow, d)
    return [s.model_dump() for s in found]


@router.post("/admin/rebuild", status_code=202, tags=["admin"])
async def start_rebuild(request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    rebuild = request.app.state.rebuild
    if not rebuild.start():
        raise HTTPException(409, "a rebuild is already running")
    return rebuild.progress.view()


@router.get("/admin/rebuild", tags=["admin"])
async def rebuild_progress(request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    return JSONResponse(request.app.state.rebuild.progress.view() | {
        k: v.isoformat() for k, v in request.app.state.rebuild.progress.view().items() if isinstance(v, datetime)})
