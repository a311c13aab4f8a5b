"""SQL for the dashboard's server-side sessions (only hashes of the session ids are kept)."""

from datetime import datetime
from typing import Any

import asyncpg


async def add(conn: asyncpg.Connection, session_hash: str, organisation_id: str, org_type: str,
              scopes: list[str], csrf_token: str, now: datetime, expires_at: datetime) -> None:
    await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < $1", now)  # expired ones, in passing
    await conn.execute(
        "INSERT INTO dashboard_sessions (session_hash, organisation_id, org_type, scopes, csrf_token, created_at,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        session_hash, organisation_id, org_type, scopes, csrf_token, now, expires_at)


async def get(conn: asyncpg.Connection, session_hash: str, now: datetime) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT organisation_id, org_type, scopes, csrf_token FROM dashboard_sessions"
                              " WHERE session_hash = $1 AND expires_at > $2", session_hash, now)
    return dict(row) if row else None


async def remove(conn: asyncpg.Connection, session_hash: str) -> None:
    await conn.execute("DELETE FROM dashboard_sessions WHERE session_hash = $1", session_hash)
