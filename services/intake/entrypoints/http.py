"""Intake's HTTP API for corporations."""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel

from runtime.auth import Principal, require
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.intake.domain.model import NewCase
from services.intake.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["cases"])
corporation = require("corporation")


class CaseCreated(BaseModel):
    case_id: UUID
    status: str


class CasePart(BaseModel):
    referral_id: UUID
    partner_id: str
    partner_type: str | None
    purpose: str | None
    status: str
    reason: str | None
    respond_by: datetime | None
    updated_at: datetime


class CaseEscalation(BaseModel):
    escalation_id: UUID
    level: str
    reason: str
    raised_at: datetime


class CaseView(BaseModel):
    case_id: UUID
    corporation_id: str
    category: str
    severity: str
    buurt_code: str
    wijk_code: str
    status: str
    details: dict[str, Any]
    handling_professional: str | None
    opened_at: datetime
    closed_at: datetime | None
    complaint_count: int
    parts: list[CasePart]
    escalations: list[CaseEscalation]


@router.post("/cases", status_code=201, response_model=CaseCreated)
async def submit_case(new: NewCase, response: Response, who: Principal = Depends(corporation),
                      rt: ServiceRuntime = Depends(service_runtime)) -> CaseCreated:
    async with rt.unit_of_work() as uow:
        case_id = await handlers.submit_case(new, who, uow)
    response.headers["Location"] = f"/v1/cases/{case_id}"
    return CaseCreated(case_id=case_id, status="open")


@router.get("/cases/{case_id}", response_model=CaseView)
async def get_case(case_id: UUID, who: Principal = Depends(corporation),
                   rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    async with rt.unit_of_work() as uow:
        case = await handlers.view_case(case_id, who, uow)
    if case is None:
        raise HTTPException(404, f"no case {case_id} for {who.organisation_id}")
    return case
