"""Client credentials (OAuth 2.0 client_credentials grant, RFC 6749 §4.4): an organisation's
system trades its client id and secret for a short-lived bearer JWT. Secrets are stored
only as salted scrypt hashes and shown once, when an admin registers the client."""

import asyncio
import secrets
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field

from runtime.auth import ORG_TYPES, Principal, hash_client_secret, issue_token, new_client_secret, require, \
    verify_client_secret
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.intake.adapters import repository

router = APIRouter(prefix="/v1", tags=["auth"])
_basic = HTTPBasic(auto_error=False)


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation_id: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9-]+$")
    org_type: Literal[ORG_TYPES]  # type: ignore[valid-type]


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown only now; samenwijk keeps only a hash")
    organisation_id: str
    org_type: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


@router.post("/clients", status_code=201, response_model=ClientCreated)
async def register_client(new: NewClient, _: Principal = Depends(require("admin")),
                          rt: ServiceRuntime = Depends(service_runtime)) -> ClientCreated:
    client_id = f"{new.organisation_id}-{secrets.token_hex(4)}"
    secret = new_client_secret()
    async with rt.unit_of_work() as uow:
        await repository.add_client(uow.conn, client_id, new.organisation_id, new.org_type,
                                    await asyncio.to_thread(hash_client_secret, secret))
    return ClientCreated(client_id=client_id, client_secret=secret, organisation_id=new.organisation_id,
                         org_type=new.org_type)


@router.post("/oauth/token", response_model=TokenResponse)
async def token(grant_type: Annotated[Literal["client_credentials"], Form()],
                client_id: Annotated[str | None, Form(max_length=100)] = None,
                client_secret: Annotated[str | None, Form(max_length=200)] = None,
                basic: HTTPBasicCredentials | None = Depends(_basic),
                rt: ServiceRuntime = Depends(service_runtime)) -> TokenResponse:
    """Client id and secret in the form body or as HTTP Basic credentials."""
    if basic is not None:
        client_id, client_secret = basic.username, basic.password
    if not client_id or not client_secret:
        raise HTTPException(401, "invalid_client: client_id and client_secret are required",
                            headers={"WWW-Authenticate": "Basic"})
    async with rt.pool.acquire() as conn:
        client = await repository.get_client(conn, client_id)
    # scrypt costs ~50 ms of CPU on purpose: off the event loop
    if client is None or not await asyncio.to_thread(verify_client_secret, client_secret, client["secret_hash"]):
        raise HTTPException(401, "invalid_client: unknown client or wrong secret", headers={"WWW-Authenticate": "Basic"})
    ttl = rt.settings.token_ttl_seconds  # type: ignore[attr-defined]
    scopes = ("admin",) if client["org_type"] == "admin" else ()
    return TokenResponse(access_token=issue_token(rt.settings, client["organisation_id"], client["org_type"], scopes,
                                                  ttl=timedelta(seconds=ttl)), expires_in=ttl)
