"""SQL for reporting's read models."""

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import CaseOpened


async def add_case(conn: asyncpg.Connection, e: CaseOpened) -> None:
    await conn.execute(
        "INSERT INTO case_facts (case_id, corporation_id, category, severity, buurt_code, wijk_code, opened_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        e.case_id, e.corporation_id, e.category, e.severity.value, e.buurt_code, e.wijk_code, e.opened_at)


async def record_referral(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                          status: str, partner_type: str | None = None, requested_at: datetime | None = None,
                          responded_at: datetime | None = None) -> None:
    """Referral and partner events come on different topics: merge whatever arrives first."""
    await conn.execute(
        """
        INSERT INTO referral_facts AS f (referral_id, case_id, partner_id, partner_type, status, requested_at, responded_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (referral_id) DO UPDATE SET
            partner_type = COALESCE(f.partner_type, EXCLUDED.partner_type),
            requested_at = COALESCE(f.requested_at, EXCLUDED.requested_at),
            responded_at = COALESCE(EXCLUDED.responded_at, f.responded_at),
            status = CASE WHEN EXCLUDED.status = 'requested' THEN f.status ELSE EXCLUDED.status END
        """,
        referral_id, case_id, partner_id, partner_type, status, requested_at, responded_at)


async def buurt_figures(conn: asyncpg.Connection, category: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT c.buurt_code, c.category,
               count(DISTINCT c.case_id) AS cases_opened,
               count(r.referral_id) AS referrals,
               count(r.referral_id) FILTER (WHERE r.status = 'accepted') AS referrals_accepted,
               count(r.referral_id) FILTER (WHERE r.status = 'declined') AS referrals_declined
        FROM case_facts c LEFT JOIN referral_facts r ON r.case_id = c.case_id
        WHERE $1::text IS NULL OR c.category = $1
        GROUP BY c.buurt_code, c.category ORDER BY c.buurt_code, c.category
        """,
        category)
    return [dict(r) for r in rows]
