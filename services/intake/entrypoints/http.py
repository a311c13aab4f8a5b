"""Intake's HTTP API for corporations."""

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Discriminator, Field, Tag, computed_field

from contracts.events.cases import BUURT_CODE
from contracts.reason_codes import label
from runtime.auth import Principal, require
from runtime.http import SaneDate, invalid, moment, service_runtime
from runtime.service import ServiceRuntime
from runtime.unit_of_work import UnitOfWork
from services.intake.config import IntakeSettings
from services.intake.domain.model import (
    IDEMPOTENCY_KEY,
    TAXONOMY,
    CloseCase,
    IdempotencyConflict,
    IllegalTransition,
    NewCase,
    NewObservation,
    ReopenCase,
    VeraSignalering,
    fingerprint,
    replay,
    shape_of,
)
from services.intake.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["cases"])
corporation = require("corporation")

# One body, two shapes: samenwijk's own, or a VERA Signalering (recognised by `soort`).
Submission = Annotated[
    Annotated[NewCase, Tag("samenwijk")] | Annotated[VeraSignalering, Tag("vera")],
    Discriminator(shape_of),
]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY,
                                              description="a retried POST with the same key gets the first answer")]


class CaseCreated(BaseModel):
    case_id: UUID
    status: str
    complaint_id: UUID
    repeat_count: int
    joined_open_case: bool


class CasePart(BaseModel):
    referral_id: UUID
    partner_id: str
    partner_type: str | None
    purpose: str | None
    status: str
    reason: str | None = Field(description="samenwijk's own reason (withdrawn, expired, escalated); never a partner's words")
    respond_by: datetime | None
    updated_at: datetime
    response_kind: str | None = None
    response_code: str | None = Field(default=None, description="the partner's latest reason code")
    partner_note: str | None = Field(default=None, description="the partner's own words: only when its agreement "
                                                                "names the corporation as a recipient")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def response_label(self) -> str | None:
        """The code in Dutch, e.g. GGZ "in behandeling"."""
        return label(self.response_kind, self.response_code) if self.response_kind and self.response_code else None


class CaseEscalation(BaseModel):
    escalation_id: UUID
    level: str
    reason: str | None
    referral_id: UUID | None
    raised_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class CaseView(BaseModel):
    case_id: UUID
    corporation_id: str
    category: str
    severity: str
    buurt_code: str
    wijk_code: str
    status: str
    details: dict[str, Any]
    customer_group: dict[str, Any] | None
    handling_professional: str | None
    opened_at: datetime
    closed_at: datetime | None
    reopened_at: datetime | None
    erased_at: datetime | None
    outcome: str | None
    liveability_cost_eur: Decimal | None
    complaint_count: int
    observation_count: int
    parts: list[CasePart]
    escalations: list[CaseEscalation]


class CaseSummary(BaseModel):
    case_id: UUID
    category: str
    severity: str
    buurt_code: str
    wijk_code: str
    status: str
    handling_professional: str | None
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    complaint_count: int


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class ObservationCreated(BaseModel):
    observation_id: UUID
    case_id: UUID | None


def _settings(rt: ServiceRuntime) -> IntakeSettings:
    return rt.settings  # type: ignore[return-value]


async def _idempotent(rt: ServiceRuntime, who: Principal, key: str | None, request_fingerprint: str,
                      work: Callable[[UnitOfWork], Awaitable[tuple[int, BaseModel, dict[str, str]]]]) -> JSONResponse:
    """Run `work` once per Idempotency-Key: a retry gets the stored answer back, the same key
    with another body 422. The answer is stored in the transaction of the work itself."""
    async with rt.unit_of_work() as uow:
        if key is not None:
            stored = await handlers.stored_answer(uow, who.organisation_id, key)
            if stored is not None:
                try:
                    replay(stored["fingerprint"], request_fingerprint)
                except IdempotencyConflict as exc:
                    raise HTTPException(422, f"Idempotency-Key: {exc}") from exc
                return JSONResponse(stored["response"], status_code=stored["status_code"],
                                    headers={"Idempotent-Replayed": "true", **_location(stored["response"])})
        status, body, headers = await work(uow)
        payload = body.model_dump(mode="json")
        if key is not None:
            await handlers.store_answer(uow, who.organisation_id, key, request_fingerprint, status, payload)
    return JSONResponse(payload, status_code=status, headers=headers)


def _fingerprint_key(rt: ServiceRuntime) -> bytes:
    return rt.keys.derived(b"idempotency fingerprints")


def _location(payload: dict[str, Any]) -> dict[str, str]:
    return {"Location": f"/v1/cases/{payload['case_id']}"} if payload.get("case_id") else {}


@router.post("/cases", status_code=201, response_model=CaseCreated,
             responses={422: {"description": "invalid body, or an Idempotency-Key reused with another body"}})
async def submit_case(submission: Annotated[Submission, Body()], idempotency_key: IdempotencyKey = None,
                      who: Principal = Depends(corporation),
                      rt: ServiceRuntime = Depends(service_runtime)) -> JSONResponse:
    """Submit a case in samenwijk's own shape or as a VERA Signalering. A complaint about a
    unit that has an open case of the same category family within the repeat window joins
    that case (`joined_open_case`, `repeat_count`) instead of opening a new one."""
    shape = "vera" if isinstance(submission, VeraSignalering) else "samenwijk"
    new = submission.to_new_case() if isinstance(submission, VeraSignalering) else submission
    window = _settings(rt).repeat_window_days

    async def work(uow: UnitOfWork) -> tuple[int, BaseModel, dict[str, str]]:
        done = await handlers.submit_case(new, who, uow, repeat_window=timedelta(days=window), source_shape=shape)
        created = CaseCreated(case_id=done.case_id, status="open", complaint_id=done.complaint_id,
                              repeat_count=done.repeat_count, joined_open_case=done.joined_open_case)
        return 201, created, {"Location": f"/v1/cases/{done.case_id}"}

    return await _idempotent(rt, who, idempotency_key, fingerprint(shape, submission, _fingerprint_key(rt)), work)


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        opened_at, case_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return moment(opened_at, "cursor"), UUID(case_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid("cursor", "not a cursor this API returned (use next_cursor as given)") from exc


def _encode_cursor(opened_at: datetime, case_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{opened_at.isoformat()}|{case_id}".encode()).decode()


@router.get("/cases", response_model=CasePage)
async def list_cases(
    status: Literal["open", "closed", "erased"] | None = None,
    category: Annotated[str | None, Query(description="a taxonomy code or a family, e.g. overlast")] = None,
    buurt_code: Annotated[str | None, Query(pattern=BUURT_CODE)] = None,
    opened_from: Annotated[SaneDate | None, Query(description="first day, inclusive")] = None,
    opened_to: Annotated[SaneDate | None, Query(description="last day, inclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    who: Principal = Depends(corporation), rt: ServiceRuntime = Depends(service_runtime),
) -> CasePage:
    """The corporation's own cases, newest first, a page at a time (no personal data)."""
    if category is not None and category not in TAXONOMY and category not in {c.split(".")[0] for c in TAXONOMY}:
        raise HTTPException(422, f"category: {category!r} is neither a taxonomy code nor a family")
    if opened_from and opened_to and opened_from > opened_to:
        raise HTTPException(422, "opened_to: must not be before opened_from")
    after = _decode_cursor(cursor) if cursor else None
    async with rt.unit_of_work() as uow:
        rows = await handlers.list_cases(who, uow, status=status, category=category, buurt_code=buurt_code,
                                         opened_from=opened_from, opened_to=opened_to, after=after,
                                         limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return CasePage(items=[CaseSummary.model_validate(r) for r in page],
                    next_cursor=_encode_cursor(page[-1]["opened_at"], page[-1]["case_id"]) if more else None)


class BuildingCase(BaseModel):
    case_id: UUID
    status: str


class Building(BaseModel):
    building_ref: str
    postcode: str
    huisnummer: int
    cases: list[BuildingCase]


@router.get("/buildings/{building_ref}", response_model=Building, tags=["buildings"])
async def get_building(building_ref: Annotated[str, Path(pattern=r"^bld-[0-9a-f]{32}$")],
                       who: Principal = Depends(corporation),
                       rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """The building behind a reference (as a hotspot signal gives it), for a corporation
    with its own cases there; 404 for anyone else."""
    async with rt.unit_of_work() as uow:
        found = await handlers.resolve_building(building_ref, who, uow)
    if found is None:
        raise HTTPException(404, f"no building {building_ref} with cases of {who.organisation_id}")
    return found


@router.get("/cases/{case_id}", response_model=CaseView)
async def get_case(case_id: UUID, who: Principal = Depends(corporation),
                   rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    async with rt.unit_of_work() as uow:
        case = await handlers.view_case(case_id, who, uow)
    if case is None:
        raise HTTPException(404, f"no case {case_id} for {who.organisation_id}")
    return case


@router.post("/cases/{case_id}/close", response_model=CaseView)
async def close_case(case_id: UUID, close: CloseCase, who: Principal = Depends(corporation),
                     rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Close with an outcome and, optionally, the liveability cost spent (case.closed)."""
    return await _change(rt, case_id, who, lambda uow: handlers.close_case(case_id, close, who, uow))


@router.post("/cases/{case_id}/reopen", response_model=CaseView)
async def reopen_case(case_id: UUID, reopen: ReopenCase, who: Principal = Depends(corporation),
                      rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Reopen a closed case (case.reopened); an erased case cannot be reopened."""
    return await _change(rt, case_id, who, lambda uow: handlers.reopen_case(case_id, reopen, who, uow))


async def _change(rt: ServiceRuntime, case_id: UUID, who: Principal,
                  change: Callable[[UnitOfWork], Awaitable[dict[str, Any] | None]]) -> dict[str, Any]:
    denied = False
    try:
        async with rt.unit_of_work() as uow:
            case = await change(uow)
            denied = case is None  # the denied attempt is still logged: let the transaction commit
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from exc
    if denied:
        raise HTTPException(404, f"no case {case_id} for {who.organisation_id}")
    return case  # type: ignore[return-value]


@router.post("/observations", status_code=201, response_model=ObservationCreated, tags=["observations"])
async def record_observation(new: NewObservation, idempotency_key: IdempotencyKey = None,
                             who: Principal = Depends(corporation),
                             rt: ServiceRuntime = Depends(service_runtime)) -> JSONResponse:
    """What a wijkbeheerder saw on a round (observation.recorded); at an address it joins
    that unit's open case of the same category family."""
    async def work(uow: UnitOfWork) -> tuple[int, BaseModel, dict[str, str]]:
        observation_id, case_id = await handlers.record_observation(new, who, uow)
        return 201, ObservationCreated(observation_id=observation_id, case_id=case_id), {}

    return await _idempotent(rt, who, idempotency_key, fingerprint("observation", new, _fingerprint_key(rt)), work)
