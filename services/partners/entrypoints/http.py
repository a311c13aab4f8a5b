"""The partner-facing API: a partner's own referrals, and its accept/decline responses."""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from runtime.auth import Principal, require
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.partners.adapters import repository
from services.partners.domain.model import IllegalTransition, ReferralStatus
from services.partners.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["referrals"])
partner = require("partner")
admin = require("admin")


class Referral(BaseModel):
    referral_id: UUID
    case_id: UUID
    partner_id: str
    purpose: str
    legal_basis: str
    status: str
    hold_reason: str | None = None
    payload: dict[str, Any] | None = Field(description="the referral as delivered (minimised)")
    response: str | None = None
    requested_at: datetime
    updated_at: datetime


class Accept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/referrals", response_model=list[Referral])
async def list_referrals(status: ReferralStatus | None = None, limit: int = Query(50, ge=1, le=500),
                         before: datetime | None = Query(None, description="cursor: requested_at of the last item"),
                         who: Principal = Depends(partner), rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.unit_of_work() as uow:
        return await handlers.list_referrals(who, status.value if status else None, limit, before, uow)


@router.get("/referrals/{referral_id}", response_model=Referral)
async def get_referral(referral_id: UUID, who: Principal = Depends(partner),
                       rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    async with rt.unit_of_work() as uow:
        found = await handlers.read_referral(referral_id, who, uow)
    if found is None:
        raise HTTPException(404, f"no referral {referral_id} for {who.organisation_id}")
    return found


async def _respond(rt: ServiceRuntime, referral_id: UUID, who: Principal, wanted: ReferralStatus,
                   text: str | None) -> dict[str, Any]:
    try:
        async with rt.unit_of_work() as uow:
            return await handlers.respond(referral_id, who.organisation_id, wanted, text, uow)
    except handlers.ReferralNotFound:
        async with rt.unit_of_work() as uow:  # log the attempt on someone else's referral
            await handlers.read_referral(referral_id, who, uow)
        raise HTTPException(404, f"no referral {referral_id} for {who.organisation_id}") from None
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/referrals/{referral_id}/accept", response_model=Referral)
async def accept(referral_id: UUID, body: Accept | None = None, who: Principal = Depends(partner),
                 rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    return await _respond(rt, referral_id, who, ReferralStatus.ACCEPTED, body.note if body else None)


@router.post("/referrals/{referral_id}/decline", response_model=Referral)
async def decline(referral_id: UUID, body: Decline, who: Principal = Depends(partner),
                  rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    return await _respond(rt, referral_id, who, ReferralStatus.DECLINED, body.reason)


class PartnerView(BaseModel):
    partner_id: str
    name: str
    partner_type: str
    region: str
    coordinator: str | None


@router.get("/partners", response_model=list[PartnerView], tags=["admin"])
async def list_partners(_: Principal = Depends(admin), rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return [dict(r) for r in await repository.partners(conn)]
