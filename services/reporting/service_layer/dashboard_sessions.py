"""The dashboard's sign-in: the bearer token is checked once and never kept; the browser
gets a random session id (a server-side session, only its hash stored) and a CSRF token
bound to that session for its forms."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.reporting.adapters import sessions

SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class SignedIn:
    organisation_id: str
    org_type: str
    scopes: frozenset[str]
    csrf_token: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def sign_in(conn: asyncpg.Connection, organisation_id: str, org_type: str, scopes: frozenset[str],
                  now: datetime) -> str:
    session_id = secrets.token_urlsafe(32)
    await sessions.add(conn, _hash(session_id), organisation_id, org_type, sorted(scopes),
                       secrets.token_urlsafe(32), now, now + SESSION_TTL)
    return session_id


async def current(conn: asyncpg.Connection, session_id: str, now: datetime) -> SignedIn | None:
    row = await sessions.get(conn, _hash(session_id), now)
    return None if row is None else SignedIn(row["organisation_id"], row["org_type"], frozenset(row["scopes"]),
                                             row["csrf_token"])


async def sign_out(conn: asyncpg.Connection, session_id: str) -> None:
    await sessions.remove(conn, _hash(session_id))
