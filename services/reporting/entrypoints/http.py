"""Reporting's JSON API. No personal data; every count below 5 shows as "<5"."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from runtime.auth import Principal, principal
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.reporting.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["kpis"])


Count = int | str  # a number, or "<5" when suppressed


class BuurtFigures(BaseModel):
    buurt_code: str
    category: str
    cases_opened: Count
    referrals: Count
    referrals_accepted: Count
    referrals_declined: Count


@router.get("/kpis/buurten", response_model=list[BuurtFigures])
async def buurt_figures(category: str | None = None, _: Principal = Depends(principal),
                        rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await handlers.buurt_figures(conn, category)
