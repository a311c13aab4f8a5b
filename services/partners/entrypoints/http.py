"""The partner-facing API: a partner's own referrals and its responses; the processing log."""

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.reason_codes import check_code, code_schema

from runtime.auth import Principal, principal, require
from runtime.http import invalid, moment, service_runtime
from runtime.sealing import b64e
from runtime.service import ServiceRuntime
from services.partners.domain.model import IllegalTransition, ReferralStatus
from services.partners.domain.model import Response as PartnerResponse
from services.partners.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["referrals"])
partner = require("partner")


class Progress(BaseModel):
    code: str | None = None
    note: str | None
    at: datetime


class Referral(BaseModel):
    referral_id: UUID
    case_id: UUID
    partner_id: str
    purpose: str
    legal_basis: str
    status: str
    hold_reason: str | None = None
    payload: dict[str, Any] | None = Field(description="the referral as delivered (minimised); none while held or after erasure")
    response_code: str | None = Field(default=None, description="accept or decline code")
    response: str | None = Field(default=None, description="your accept note or decline reason (free text)")
    progress: list[Progress] = []
    outcome_code: str | None = None
    outcome: str | None = None
    requested_at: datetime
    updated_at: datetime


FREE_TEXT = ("your own words: kept for you, and shared only with the recipients your agreement names "
             "(free_text_recipients; default nobody) — the corporation and other partners see the code")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[PartnerResponse]
    text_field: ClassVar[str]  # where this kind keeps the free text
    code: str

    @field_validator("code")
    @classmethod
    def _known(cls, code: str) -> str:
        return check_code(cls.kind, code)

    def text(self) -> str | None:
        return getattr(self, self.text_field)


class Accept(_Answer):
    kind = PartnerResponse.ACCEPT
    code: str = Field(default="aangenomen", json_schema_extra=code_schema(PartnerResponse.ACCEPT))
    note: str | None = Field(default=None, max_length=2000, description=FREE_TEXT)
    text_field = "note"


class Decline(_Answer):
    kind = PartnerResponse.DECLINE
    code: str = Field(json_schema_extra=code_schema(PartnerResponse.DECLINE))
    reason: str | None = Field(default=None, min_length=1, max_length=2000, description=FREE_TEXT)
    text_field = "reason"


class ProgressNote(_Answer):
    kind = PartnerResponse.PROGRESS
    code: str = Field(json_schema_extra=code_schema(PartnerResponse.PROGRESS))
    note: str | None = Field(default=None, min_length=1, max_length=2000, description=FREE_TEXT)
    text_field = "note"


class Complete(_Answer):
    kind = PartnerResponse.COMPLETE
    code: str = Field(json_schema_extra=code_schema(PartnerResponse.COMPLETE))
    outcome: str | None = Field(default=None, min_length=1, max_length=2000, description=FREE_TEXT)
    text_field = "outcome"


def _cursor(value: str | None) -> tuple[datetime, UUID] | None:
    if value is None:
        return None
    try:
        at, referral_id = value.rsplit("|", 1)
        return moment(at, "cursor"), UUID(referral_id)
    except ValueError:
        raise invalid("cursor", "not a cursor this API returned (X-Next-Cursor)") from None


@router.get("/referrals", response_model=list[Referral])
async def list_referrals(response: Response, status: ReferralStatus | None = None, purpose: str | None = None,
                         case_id: UUID | None = None, limit: int = Query(50, ge=1, le=500),
                         cursor: str | None = Query(None, description="X-Next-Cursor of the previous page"),
                         who: Principal = Depends(partner),
                         rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """My referrals, newest first. A full page sets `X-Next-Cursor` for the next one."""
    async with rt.unit_of_work() as uow:
        rows = await handlers.list_referrals(who, uow, status=status.value if status else None, purpose=purpose,
                                             case_id=case_id, limit=limit, before=_cursor(cursor))
    if len(rows) == limit:
        last = rows[-1]
        response.headers["X-Next-Cursor"] = f"{last['requested_at'].isoformat()}|{last['referral_id']}"
    return rows


def _not_found(referral_id: UUID, who: Principal) -> HTTPException:
    return HTTPException(404, f"no referral {referral_id} for {who.organisation_id}")


@router.get("/referrals/{referral_id}", response_model=Referral)
async def get_referral(referral_id: UUID, who: Principal = Depends(partner),
                       rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    async with rt.unit_of_work() as uow:
        found = await handlers.read_referral(referral_id, who, uow)
    if found is None:
        raise _not_found(referral_id, who)
    return found


async def _respond(rt: ServiceRuntime, referral_id: UUID, who: Principal, answer: _Answer) -> dict[str, Any]:
    response = answer.kind
    try:
        async with rt.unit_of_work() as uow:
            return await handlers.respond(referral_id, who, response, answer.code, answer.text(), uow)
    except handlers.ReferralNotFound:
        async with rt.unit_of_work() as uow:  # log the attempt on someone else's referral
            await handlers.read_referral(referral_id, who, uow, action=f"referral.{response.value}")
        raise _not_found(referral_id, who) from None
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/referrals/{referral_id}/accept", response_model=Referral)
async def accept(referral_id: UUID, body: Accept | None = None, who: Principal = Depends(partner),
                 rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    return await _respond(rt, referral_id, who, body or Accept())


@router.post("/referrals/{referral_id}/decline", response_model=Referral)
async def decline(referral_id: UUID, body: Decline, who: Principal = Depends(partner),
                  rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    return await _respond(rt, referral_id, who, body)


@router.post("/referrals/{referral_id}/progress", response_model=Referral)
async def progress(referral_id: UUID, body: ProgressNote, who: Principal = Depends(partner),
                   rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    return await _respond(rt, referral_id, who, body)


@router.post("/referrals/{referral_id}/complete", response_model=Referral)
async def complete(referral_id: UUID, body: Complete, who: Principal = Depends(partner),
                   rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    return await _respond(rt, referral_id, who, body)


class InboxKey(BaseModel):
    kid: str = Field(description="the `sealed.kid` of the events it opens: partners/inbox.<partner_id>/<case_id>")
    alg: str = Field(default="A256GCM")
    key: str = Field(description="256-bit AES-GCM key, base64url without padding")


@router.get("/inbox-keys/{case_id}", response_model=InboxKey, tags=["inbox keys"],
            responses={404: {"description": "no key: nothing delivered, the case is erased, or no current agreement"}})
async def inbox_key(case_id: UUID, who: Principal = Depends(partner),
                    rt: ServiceRuntime = Depends(service_runtime)) -> InboxKey:
    """The key that opens the personal fields of this case's events on my inbox topic
    (docs/partners.md, Reading your inbox topic). Keep it in memory only; once the case is
    erased, or my agreement no longer allows it, there is none."""
    async with rt.unit_of_work() as uow:
        found = await handlers.inbox_key(case_id, who, uow)
    if found is None:
        raise HTTPException(404, f"no inbox key of case {case_id} for {who.organisation_id}")
    return InboxKey(kid=found[0], key=b64e(found[1]))


class ProcessingLogEntry(BaseModel):
    id: int
    logged_at: datetime
    action: str
    outcome: str
    organisation_id: str
    user_id: str | None
    case_id: UUID | None
    referral_id: UUID | None
    purpose: str | None
    legal_basis: str | None
    confidentiality: str
    trace_id: str | None


@router.get("/processing-log", response_model=list[ProcessingLogEntry], tags=["processing log"])
async def processing_log(case: UUID = Query(description="case id"), who: Principal = Depends(principal),
                         rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Every delivery, read and attempt on one case's data here (identifiers only): for the
    corporation that owns the case, and for auditors (admin scope)."""
    if not (who.org_type == "corporation" or who.is_admin):
        raise HTTPException(403, "the processing log is for the case's corporation and auditors (admin scope)")
    async with rt.unit_of_work() as uow:
        entries = await handlers.processing_log(case, who, uow)
    if entries is None:
        raise HTTPException(404, f"no case {case} for {who.organisation_id}")
    return entries
