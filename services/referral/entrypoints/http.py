"""Referral's HTTP API: what was referred where, and which partners routing knows (ops)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from runtime.auth import Principal, require
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.referral.adapters import repository

router = APIRouter(prefix="/v1", tags=["referrals"])
admin = require("admin")


class ReferralSummary(BaseModel):
    referral_id: UUID
    case_id: UUID
    partner_id: str
    partner_type: str
    purpose: str
    status: str
    respond_by: datetime
    resolve_by: datetime
    requested_at: datetime


class KnownPartner(BaseModel):
    partner_id: str
    name: str
    partner_type: str
    region: str
    agreements: list[dict[str, Any]]


@router.get("/referrals", response_model=list[ReferralSummary])
async def list_referrals(case_id: UUID | None = None, _: Principal = Depends(admin),
                         rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await repository.list_referrals(conn, case_id)


@router.get("/routing/partners", response_model=list[KnownPartner])
async def known_partners(_: Principal = Depends(admin), rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await repository.list_partners(conn)
