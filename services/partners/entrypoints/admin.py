"""The admin API (admin organisation with the `admin` scope): partners, agreements, webhook
subscriptions, webhook dead letters, held referrals."""

import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.events.common import PARTNER_ID, PARTNER_ID_MAX_LENGTH
from runtime.auth import Principal, admin
from runtime.broker import ensure_topics
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.partners.adapters import repository
from services.partners.adapters.secrets import SecretBox
from services.partners.adapters.webhook_http import check_registration
from services.partners.domain.model import (
    AgreementSeed,
    IllegalTransition,
    PartnerSeed,
    ReferralStatus,
    RetrySchedule,
    partner_topics,
)
from services.partners.domain.webhook_target import MAX_URL_LENGTH, RefusedTarget
from services.partners.service_layer import handlers

router = APIRouter(prefix="/v1/admin", tags=["admin"])
PartnerIdPath = Annotated[str, Path(pattern=PARTNER_ID, max_length=PARTNER_ID_MAX_LENGTH)]
PartnerIdQuery = Annotated[str | None, Query(pattern=PARTNER_ID, max_length=PARTNER_ID_MAX_LENGTH)]
AgreementIdPath = Annotated[str, Path(pattern=r"^[a-z0-9-]+$", max_length=128)]


class AgreementView(BaseModel):
    agreement_id: str
    partner_id: str
    purposes: list[str]
    fields: list[str]
    legal_basis: str
    valid_from: date
    valid_until: date | None
    revoked: bool
    free_text_recipients: list[str] = []
    revision: int
    changed_at: datetime


class PartnerView(BaseModel):
    partner_id: str
    name: str
    partner_type: str
    region: str
    coordinator: str | None
    registered_at: datetime
    agreements: list[AgreementView] = []
    webhook_url: str | None = None


@router.get("/partners", response_model=list[PartnerView])
async def list_partners(_: Principal = Depends(admin), rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        agreements = await repository.agreements(conn)
        hooks = {s["partner_id"]: s["url"] for s in await repository.subscriptions(conn)}
        return [{**dict(p), "webhook_url": hooks.get(p["partner_id"]),
                 "agreements": [dict(a) for a in agreements if a["partner_id"] == p["partner_id"]]}
                for p in await repository.partners(conn)]


@contextlib.contextmanager
def _as_http() -> Iterator[None]:
    """The admin handlers' domain errors as HTTP: unknown → 404, a conflict → 409."""
    try:
        yield
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except (handlers.RegistryConflict, IllegalTransition) as exc:
        raise HTTPException(409, str(exc)) from None


@router.put("/partners/{partner_id}", response_model=PartnerView)
async def register_partner(partner_id: PartnerIdPath, body: PartnerSeed, _: Principal = Depends(admin),
                           rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Create or change a partner (and the agreements listed); announced as partner.registered
    and agreement.changed."""
    if body.partner_id != partner_id:
        raise HTTPException(422, f"partner_id: must equal the path ({partner_id})")
    with _as_http():
        async with rt.unit_of_work() as uow:
            row = await handlers.register_partner(body, uow)
            agreements = [dict(a) for a in await repository.agreements(uow.conn, partner_id)]
    await ensure_topics(rt.settings, partner_topics([partner_id]))
    return {**row, "agreements": agreements}


@router.put("/partners/{partner_id}/agreements/{agreement_id}", response_model=AgreementView)
async def put_agreement(partner_id: PartnerIdPath, agreement_id: AgreementIdPath, body: AgreementSeed, _: Principal = Depends(admin),
                        rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Create or change an agreement (a new revision when its content changed)."""
    if body.agreement_id != agreement_id:
        raise HTTPException(422, f"agreement_id: must equal the path ({agreement_id})")
    with _as_http():
        async with rt.unit_of_work() as uow:
            return await handlers.put_agreement(partner_id, body, uow)


@router.post("/agreements/{agreement_id}/revoke", response_model=AgreementView)
async def revoke_agreement(agreement_id: AgreementIdPath, _: Principal = Depends(admin),
                           rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Stops delivery at once: referrals and webhook deliveries not yet out are held."""
    with _as_http():
        async with rt.unit_of_work() as uow:
            return await handlers.revoke_agreement(agreement_id, uow)


class RetryPolicy(BaseModel):
    """A retry schedule agreed with one partner (default: the service's settings, about a day)."""
    model_config = ConfigDict(extra="forbid")
    initial_seconds: float = Field(ge=0.1, le=3600)
    max_seconds: float = Field(ge=0.1, le=24 * 3600)
    give_up_after_seconds: float = Field(ge=1, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> "RetryPolicy":
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must not be below initial_seconds")
        return self


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=MAX_URL_LENGTH, description="https to a public address (plain http to loopback only in dev mode)")
    retry: RetryPolicy | None = None


class WebhookCreated(BaseModel):
    partner_id: str
    url: str
    secret: str = Field(description="HMAC-SHA256 key for X-Samenwijk-Signature; shown only now")


@router.put("/partners/{partner_id}/webhook", response_model=WebhookCreated)
async def set_webhook(partner_id: PartnerIdPath, body: WebhookRequest, _: Principal = Depends(admin),
                      rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Subscribe a partner's webhook; a new secret each time (rotation), returned once. The URL
    must be https to a public address: loopback, private, link-local, multicast, CGNAT and
    numeric IP forms are refused (422), here and again at each delivery."""
    try:
        await check_registration(body.url, rt.settings.dev_mode)
    except RefusedTarget as exc:
        raise RequestValidationError([{"loc": ("body", "url"), "msg": str(exc), "type": "webhook_url"}]) from None
    secret = secrets.token_urlsafe(32)
    sealed = SecretBox(rt.settings.webhook_secret_key).seal(secret)
    async with rt.unit_of_work() as uow:
        if await repository.get_partner(uow.conn, partner_id) is None:
            raise HTTPException(404, f"no partner {partner_id}")
        retry = body.retry and RetrySchedule(body.retry.initial_seconds, body.retry.max_seconds,
                                             body.retry.give_up_after_seconds)
        await repository.set_subscription(uow.conn, partner_id, body.url, sealed, retry, datetime.now(UTC))
    return {"partner_id": partner_id, "url": body.url, "secret": secret}


@router.delete("/partners/{partner_id}/webhook", status_code=204)
async def delete_webhook(partner_id: PartnerIdPath, _: Principal = Depends(admin),
                         rt: ServiceRuntime = Depends(service_runtime)) -> None:
    async with rt.unit_of_work() as uow:
        if not await repository.delete_subscription(uow.conn, partner_id):
            raise HTTPException(404, f"no webhook for {partner_id}")


class Delivery(BaseModel):
    delivery_id: UUID
    partner_id: str
    case_id: UUID
    referral_id: UUID | None
    event_type: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None


class Deliveries(BaseModel):
    dead_letters: int = Field(description="webhook deliveries given up and not redelivered: the alert")
    items: list[Delivery]


@router.get("/webhook-deliveries", response_model=Deliveries)
async def list_deliveries(status: str | None = Query(None, pattern="^(pending|delivered|dead|held|erased)$"),
                          partner_id: PartnerIdQuery = None, limit: int = Query(100, ge=1, le=1000),
                          _: Principal = Depends(admin), rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    async with rt.pool.acquire() as conn:
        return {"dead_letters": await repository.dead_delivery_count(conn),
                "items": [dict(r) for r in await repository.deliveries(conn, status, partner_id, limit)]}


@router.post("/webhook-deliveries/{delivery_id}/redeliver", response_model=Delivery)
async def redeliver(delivery_id: UUID, _: Principal = Depends(admin),
                    rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Try a dead (or held) delivery again, with a fresh retry window and the same delivery id."""
    async with rt.unit_of_work() as uow:
        row = await repository.redeliver(uow.conn, delivery_id, datetime.now(UTC))
    if row is None:
        raise HTTPException(409, f"delivery {delivery_id}: only a dead or held delivery with its content can be redelivered")
    return dict(row)


class ReferralState(BaseModel):
    referral_id: UUID
    case_id: UUID
    partner_id: str
    purpose: str
    legal_basis: str
    status: str
    hold_reason: str | None
    requested_at: datetime
    updated_at: datetime


@router.get("/referrals", response_model=list[ReferralState])
async def list_referrals(status: ReferralStatus | None = None, partner_id: PartnerIdQuery = None,
                         limit: int = Query(100, ge=1, le=1000), _: Principal = Depends(admin),
                         rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    """Referral states without their content (e.g. `status=held` with each reason)."""
    async with rt.pool.acquire() as conn:
        rows = await repository.list_referrals(conn, partner_id=partner_id, status=status.value if status else None,
                                               purpose=None, case_id=None, limit=limit, before=None)
    return [dict(r) for r in rows]  # the response model leaves the content out


@router.post("/referrals/{referral_id}/release", response_model=ReferralState)
async def release_referral(referral_id: UUID, _: Principal = Depends(admin),
                           rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """Deliver a held referral once the partner's agreement allows it again (checked now)."""
    with _as_http():
        async with rt.unit_of_work() as uow:
            return await handlers.release_referral(referral_id, uow)
