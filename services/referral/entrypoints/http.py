"""Referral's HTTP API: what was referred where, the escalations, which partners routing knows,
and the rule files in force (ops, admin only)."""

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncio

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from runtime.auth import Principal, admin
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.referral.adapters import repository
from services.referral.service_layer.handlers import Context

router = APIRouter(prefix="/v1", tags=["referrals"])


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


class EscalationSummary(BaseModel):
    escalation_id: UUID
    case_id: UUID
    level: str
    reason: str
    referral_id: UUID | None
    owner_partner_id: str | None
    raised_at: datetime
    resolved_at: datetime | None


class RulesInForce(BaseModel):
    regions: list[str]
    refused: dict[str, str]  # file → "file: line N: problem" (its last good version stays in force)
    loaded: list[str] = []
    removed: list[str] = []


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


@router.get("/escalations", response_model=list[EscalationSummary])
async def list_escalations(case_id: UUID | None = None, _: Principal = Depends(admin),
                           rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await repository.list_escalations(conn, case_id)


@router.get("/routing/rules", response_model=RulesInForce)
async def rules_in_force(request: Request, _: Principal = Depends(admin)) -> RulesInForce:
    rulebook = _context(request).rulebook
    return RulesInForce(regions=sorted(rulebook.by_region), refused={str(p): m for p, m in rulebook.problems.items()})


@router.post("/routing/rules/reload", response_model=RulesInForce)
async def reload_rules(request: Request, _: Principal = Depends(admin)) -> RulesInForce:
    """Read every rule file again now; a refused file keeps its last good rules in force."""
    rulebook = _context(request).rulebook
    report = await asyncio.to_thread(rulebook.reload, True)
    return RulesInForce(regions=report.regions, refused={str(p): m for p, m in rulebook.problems.items()},
                        loaded=report.loaded, removed=report.removed)


def _context(request: Request) -> Context:
    return request.app.state.referral
