"""SQL for intake's tables. Functions take the connection of the caller's unit of work."""

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import CaseOpened
from services.intake.domain.model import STATUS_RANK, PartStatus, Reporter


async def add_case(conn: asyncpg.Connection, opened: CaseOpened, complaint_id: UUID, reporter: Reporter) -> None:
    await conn.execute(
        "INSERT INTO cases (case_id, corporation_id, category, severity, buurt_code, wijk_code, details,"
        " handling_professional, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        opened.case_id, opened.corporation_id, opened.category, opened.severity.value, opened.buurt_code,
        opened.wijk_code, opened.details.model_dump(mode="json", exclude_none=True),
        opened.handling_professional, opened.opened_at,
    )
    await conn.execute(
        "INSERT INTO complaints (complaint_id, case_id, received_at, description, reporter)"
        " VALUES ($1, $2, $3, $4, $5)",
        complaint_id, opened.case_id, opened.opened_at, opened.details.description,
        reporter.model_dump(exclude_none=True),
    )


async def get_case(conn: asyncpg.Connection, case_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    if row is None:
        return None
    case = dict(row)
    case["parts"] = [dict(r) for r in await conn.fetch(
        "SELECT referral_id, partner_id, partner_type, purpose, status, reason, respond_by, updated_at"
        " FROM case_parts WHERE case_id = $1 ORDER BY updated_at", case_id)]
    case["escalations"] = [dict(r) for r in await conn.fetch(
        "SELECT escalation_id, level, reason, raised_at FROM case_escalations WHERE case_id = $1"
        " ORDER BY raised_at", case_id)]
    case["complaint_count"] = await conn.fetchval("SELECT count(*) FROM complaints WHERE case_id = $1", case_id)
    return case


async def upsert_part(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                      status: PartStatus, at: datetime, partner_type: str | None = None,
                      purpose: str | None = None, reason: str | None = None,
                      respond_by: datetime | None = None) -> None:
    """Record a part's status; a later-stage status is never overwritten by an earlier one."""
    await conn.execute(
        """
        INSERT INTO case_parts AS p (referral_id, case_id, partner_id, partner_type, purpose, status,
                                     status_rank, reason, respond_by, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (referral_id) DO UPDATE SET
            partner_type = COALESCE(p.partner_type, EXCLUDED.partner_type),
            purpose      = COALESCE(p.purpose, EXCLUDED.purpose),
            respond_by   = COALESCE(p.respond_by, EXCLUDED.respond_by),
            status       = CASE WHEN EXCLUDED.status_rank >= p.status_rank THEN EXCLUDED.status ELSE p.status END,
            reason       = CASE WHEN EXCLUDED.status_rank >= p.status_rank THEN EXCLUDED.reason ELSE p.reason END,
            status_rank  = GREATEST(p.status_rank, EXCLUDED.status_rank),
            updated_at   = GREATEST(p.updated_at, EXCLUDED.updated_at)
        """,
        referral_id, case_id, partner_id, partner_type, purpose, status.value, STATUS_RANK[status],
        reason, respond_by, at,
    )


async def add_escalation(conn: asyncpg.Connection, escalation_id: UUID, case_id: UUID, level: str,
                         reason: str, raised_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO case_escalations (escalation_id, case_id, level, reason, raised_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        escalation_id, case_id, level, reason, raised_at,
    )
