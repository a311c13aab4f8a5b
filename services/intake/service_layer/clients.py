"""API clients (OAuth 2.0 client credentials): register, list, revoke, rotate the secret, and
trade id + secret for a token. Secrets are kept only as salted scrypt hashes and shown once."""

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from runtime.auth import ADMIN_SCOPE, AUDIENCES, TokenIssuer, hash_client_secret, new_client_secret, verify_client
from runtime.unit_of_work import UnitOfWork
from services.intake.adapters import repository

# The services a token may be for, per kind of organisation (a client can ask for fewer).
AUDIENCES_OF = {
    "corporation": ("intake", "partners", "reporting"),
    "partner": ("partners", "reporting"),
    "admin": AUDIENCES,
    # service-to-service calls: a service's own client, audience narrowed per request
    "service": AUDIENCES,
}


class ClientRefused(Exception):
    """The client id and secret do not make a client (unknown, revoked or wrong secret)."""


class AudienceRefused(Exception):
    pass


def check_scopes(org_type: str, scopes: list[str]) -> list[str]:
    if ADMIN_SCOPE in scopes and org_type != "admin":
        raise ValueError("only an admin organisation's client can have the admin scope")
    return sorted(set(scopes))


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {**dict(row), "scopes": list(row["scopes"]), "revoked": row["revoked_at"] is not None}


async def register(uow: UnitOfWork, organisation_id: str, org_type: str, scopes: list[str]) -> tuple[str, str]:
    client_id = f"{organisation_id}-{secrets.token_hex(4)}"
    secret = new_client_secret()
    await repository.add_client(uow.conn, client_id, organisation_id, org_type, check_scopes(org_type, scopes),
                                await asyncio.to_thread(hash_client_secret, secret))  # scrypt: off the loop
    return client_id, secret


SERVICE_SCOPE = "data-keys:read"


async def keep_service_clients(uow: UnitOfWork, secrets_by_service: dict[str, str], now: datetime) -> list[str]:
    """The clients the other services fetch data keys with (`<service>-service`, org_type
    service, scope data-keys:read), in step with SAMENWIJK_SERVICE_CLIENTS: made when missing,
    the secret replaced when it changed. Returns the client ids."""
    ids = []
    for service, secret in sorted(secrets_by_service.items()):
        client_id = f"{service}-service"
        row = await repository.get_client(uow.conn, client_id)
        hashed = None if row and await asyncio.to_thread(verify_client, secret, row["secret_hash"]) \
            else await asyncio.to_thread(hash_client_secret, secret)
        if row is None:
            await repository.add_client(uow.conn, client_id, service, "service", [SERVICE_SCOPE], hashed)
        elif hashed is not None:
            await repository.replace_client_secret(uow.conn, client_id, hashed, now)
        ids.append(client_id)
    return ids


async def list_clients(uow: UnitOfWork, organisation_id: str | None) -> list[dict[str, Any]]:
    return [_view(r) for r in await repository.list_clients(uow.conn, organisation_id)]


async def revoke(uow: UnitOfWork, client_id: str, now: datetime) -> dict[str, Any] | None:
    """The client gets no new token; tokens it holds run out within their lifetime."""
    row = await repository.revoke_client(uow.conn, client_id, now)
    return _view(row) if row else None


async def rotate_secret(uow: UnitOfWork, client_id: str, now: datetime) -> tuple[dict[str, Any], str] | None:
    """A new secret, shown once; the old one stops working at once."""
    secret = new_client_secret()
    row = await repository.replace_client_secret(uow.conn, client_id, await asyncio.to_thread(hash_client_secret, secret),
                                                 now)
    return (_view(row), secret) if row else None


async def issue_token(conn: asyncpg.Connection, issuer: TokenIssuer, client_id: str, secret: str,
                      audience: list[str] | None, ttl: timedelta) -> str:
    client = await repository.get_client(conn, client_id)
    # scrypt runs for unknown and revoked clients too (a dummy hash): same cost, same answer
    if not await asyncio.to_thread(verify_client, secret, client["secret_hash"] if client else None):
        raise ClientRefused
    allowed = AUDIENCES_OF[client["org_type"]]
    wanted = audience or list(allowed)
    if not set(wanted) <= set(allowed):
        raise AudienceRefused(f"a {client['org_type']} token can be for {', '.join(allowed)} only")
    return issuer.issue(client["organisation_id"], client["org_type"], list(client["scopes"]),
                        audience=sorted(set(wanted)), ttl=ttl, client_id=client_id)
