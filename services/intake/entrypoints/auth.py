"""Client credentials (OAuth 2.0 client_credentials grant, RFC 6749 §4.4): an organisation's
system trades its client id and secret for a short-lived bearer JWT, signed by intake — the
one token issuer — with an Ed25519 key no other service holds. The public keys are at
/.well-known/jwks.json. Admins register, list, revoke clients and rotate their secrets."""

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runtime.auth import AUDIENCES, ORG_TYPES, ORGANISATION_ID, SCOPE, Principal, TokenIssuer, admin, parse_jwks
from runtime.http import service_runtime
from runtime.ratelimit import RateLimit, too_many
from runtime.service import ServiceRuntime
from services.intake.service_layer import clients

router = APIRouter(tags=["auth"])
_basic = HTTPBasic(auto_error=False)


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation_id: str = Field(pattern=ORGANISATION_ID, description="2-64 of a-z, 0-9 and -")
    org_type: Literal[ORG_TYPES]  # type: ignore[valid-type]
    scopes: list[Annotated[str, Field(pattern=SCOPE)]] | None = Field(
        default=None, max_length=10, description="default: ['admin'] for an admin organisation, else none")

    @field_validator("scopes")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        return sorted(set(v)) if v is not None else None


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown only now; samenwijk keeps only a hash")
    organisation_id: str
    org_type: str
    scopes: list[str]


class ClientView(BaseModel):
    client_id: str
    organisation_id: str
    org_type: str
    scopes: list[str]
    created_at: datetime
    secret_rotated_at: datetime | None
    revoked_at: datetime | None
    revoked: bool


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


def _issuer(request: Request) -> TokenIssuer:
    issuer = getattr(request.app.state, "token_issuer", None)
    if issuer is None:
        rt: ServiceRuntime = request.app.state.runtime
        issuer = request.app.state.token_issuer = TokenIssuer(
            rt.settings.jwt_signing_key.get_secret_value(), rt.settings.jwt_issuer)  # type: ignore[attr-defined]
    return issuer


def _token_limits(request: Request) -> tuple[RateLimit, RateLimit]:
    limits = getattr(request.app.state, "token_limits", None)
    if limits is None:
        s = request.app.state.runtime.settings
        limits = request.app.state.token_limits = (RateLimit(s.token_rate_limit_per_client),
                                                   RateLimit(s.token_rate_limit_per_address))
    return limits


@router.post("/v1/clients", status_code=201, response_model=ClientCreated)
async def register_client(new: NewClient, _: Principal = Depends(admin),
                          rt: ServiceRuntime = Depends(service_runtime)) -> ClientCreated:
    scopes = new.scopes if new.scopes is not None else (["admin"] if new.org_type == "admin" else [])
    try:
        async with rt.unit_of_work() as uow:
            client_id, secret = await clients.register(uow, new.organisation_id, new.org_type, scopes)
    except ValueError as exc:
        raise HTTPException(422, f"scopes: {exc}") from exc
    return ClientCreated(client_id=client_id, client_secret=secret, organisation_id=new.organisation_id,
                         org_type=new.org_type, scopes=clients.check_scopes(new.org_type, scopes))


@router.get("/v1/clients", response_model=list[ClientView])
async def list_clients(organisation_id: str | None = None, _: Principal = Depends(admin),
                       rt: ServiceRuntime = Depends(service_runtime)) -> list[dict[str, Any]]:
    async with rt.unit_of_work() as uow:
        return await clients.list_clients(uow, organisation_id)


@router.post("/v1/clients/{client_id}/revoke", response_model=ClientView)
async def revoke_client(client_id: str, _: Principal = Depends(admin),
                        rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """No new tokens for this client; those it holds expire within their lifetime (≤ 1 h)."""
    async with rt.unit_of_work() as uow:
        revoked = await clients.revoke(uow, client_id, datetime.now(UTC))
    if revoked is None:
        raise HTTPException(404, f"no client {client_id}")
    return revoked


@router.post("/v1/clients/{client_id}/secret", response_model=ClientCreated)
async def rotate_client_secret(client_id: str, _: Principal = Depends(admin),
                               rt: ServiceRuntime = Depends(service_runtime)) -> ClientCreated:
    """A new secret, shown once; the old secret stops working now."""
    async with rt.unit_of_work() as uow:
        rotated = await clients.rotate_secret(uow, client_id, datetime.now(UTC))
    if rotated is None:
        raise HTTPException(404, f"no active client {client_id}")
    view, secret = rotated
    return ClientCreated(client_id=client_id, client_secret=secret, organisation_id=view["organisation_id"],
                         org_type=view["org_type"], scopes=view["scopes"])


@router.post("/v1/oauth/token", response_model=TokenResponse)
async def token(request: Request, grant_type: Annotated[Literal["client_credentials"], Form()],
                client_id: Annotated[str | None, Form(max_length=100)] = None,
                client_secret: Annotated[str | None, Form(max_length=200)] = None,
                audience: Annotated[str | None, Form(max_length=200, description=(
                    "space-separated services the token is for; default: all its kind may use"))] = None,
                basic: HTTPBasicCredentials | None = Depends(_basic),
                rt: ServiceRuntime = Depends(service_runtime)) -> TokenResponse:
    """Client id and secret in the form body or as HTTP Basic credentials. Rate limited per
    client id and per caller address (429 with Retry-After) before any secret is checked."""
    if basic is not None:
        client_id, client_secret = basic.username, basic.password
    if not client_id or not client_secret:
        raise HTTPException(401, "invalid_client: client_id and client_secret are required",
                            headers={"WWW-Authenticate": "Basic"})
    per_client, per_address = _token_limits(request)
    address = request.client.host if request.client else "unknown"
    if wait := per_address.hit(address) or per_client.hit(client_id):
        raise too_many(wait, "too many token requests")
    wanted = audience.split() if audience else None
    if wanted and not set(wanted) <= set(AUDIENCES):
        raise HTTPException(400, f"invalid_target: audience must be among {', '.join(AUDIENCES)}")
    ttl = rt.settings.token_ttl_seconds  # type: ignore[attr-defined]
    try:
        async with rt.pool.acquire() as conn:
            access_token = await clients.issue_token(conn, _issuer(request), client_id, client_secret, wanted,
                                                     timedelta(seconds=ttl))
    except clients.ClientRefused:
        raise HTTPException(401, "invalid_client: unknown client or wrong secret",
                            headers={"WWW-Authenticate": "Basic"}) from None
    except clients.AudienceRefused as exc:
        raise HTTPException(400, f"invalid_target: {exc}") from None
    return TokenResponse(access_token=access_token, expires_in=ttl)


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks_document(rt: ServiceRuntime = Depends(service_runtime)) -> dict[str, Any]:
    """The issuer's public keys (current and still-valid previous ones): what verifiers use."""
    parse_jwks(rt.settings.jwt_jwks or "")  # public keys only, or this raises
    return json.loads(rt.settings.jwt_jwks or "")
