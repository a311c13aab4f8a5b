"""SQL for referral's tables."""

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import AgreementChanged, EscalationRaised, PartnerRegistered, ReferralRequested


async def upsert_partner(conn: asyncpg.Connection, p: PartnerRegistered) -> None:
    await conn.execute(
        "INSERT INTO partners (partner_id, name, partner_type, region, registered_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name,"
        " partner_type = EXCLUDED.partner_type, region = EXCLUDED.region",
        p.partner_id, p.name, p.partner_type.value, p.region, p.registered_at)


async def upsert_agreement(conn: asyncpg.Connection, a: AgreementChanged) -> None:
    """Keep the highest revision: agreement events may come again or out of order."""
    await conn.execute(
        """
        INSERT INTO agreements AS cur (agreement_id, partner_id, purposes, fields, legal_basis,
                                       valid_from, valid_until, revoked, revision, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (agreement_id) DO UPDATE SET
            partner_id = EXCLUDED.partner_id, purposes = EXCLUDED.purposes, fields = EXCLUDED.fields,
            legal_basis = EXCLUDED.legal_basis, valid_from = EXCLUDED.valid_from,
            valid_until = EXCLUDED.valid_until, revoked = EXCLUDED.revoked,
            revision = EXCLUDED.revision, changed_at = EXCLUDED.changed_at
        WHERE EXCLUDED.revision > cur.revision
        """,
        a.agreement_id, a.partner_id, a.purposes, a.fields, a.legal_basis, a.valid_from,
        a.valid_until, a.revoked, a.revision, a.changed_at)


async def find_partner(conn: asyncpg.Connection, partner_type: str, region: str, purpose: str,
                       today: date) -> asyncpg.Record | None:
    """A partner of that type in the region with an agreement valid today for the purpose."""
    return await conn.fetchrow(
        """
        SELECT p.partner_id, a.fields, a.agreement_id
        FROM partners p JOIN agreements a ON a.partner_id = p.partner_id
        WHERE p.partner_type = $1 AND p.region = $2 AND $3 = ANY (a.purposes) AND NOT a.revoked
          AND a.valid_from <= $4 AND (a.valid_until IS NULL OR a.valid_until >= $4)
        ORDER BY p.partner_id LIMIT 1
        """,
        partner_type, region, purpose, today)


async def add_referral(conn: asyncpg.Connection, r: ReferralRequested) -> None:
    await conn.execute(
        "INSERT INTO referrals (referral_id, case_id, partner_id, partner_type, purpose, legal_basis, status,"
        " details, respond_by, resolve_by, requested_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9, $10, $10)",
        r.referral_id, r.case_id, r.partner_id, r.partner_type.value, r.purpose, r.legal_basis,
        r.details.model_dump(mode="json", exclude_none=True), r.respond_by, r.resolve_by, r.requested_at)


async def set_referral_status(conn: asyncpg.Connection, referral_id: UUID, status: str, at: Any) -> None:
    await conn.execute("UPDATE referrals SET status = $2, updated_at = $3 WHERE referral_id = $1",
                       referral_id, status, at)


async def add_escalation(conn: asyncpg.Connection, e: EscalationRaised) -> None:
    await conn.execute(
        "INSERT INTO escalations (escalation_id, case_id, level, reason, referral_id, raised_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        e.escalation_id, e.case_id, e.level, e.reason, e.referral_id, e.raised_at)


async def erase_case(conn: asyncpg.Connection, case_id: UUID) -> None:
    await conn.execute("UPDATE referrals SET details = NULL WHERE case_id = $1", case_id)


async def list_referrals(conn: asyncpg.Connection, case_id: UUID | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT referral_id, case_id, partner_id, partner_type, purpose, status, respond_by, resolve_by,"
        " requested_at FROM referrals WHERE $1::uuid IS NULL OR case_id = $1 ORDER BY requested_at DESC LIMIT 200",
        case_id)
    return [dict(r) for r in rows]


async def list_partners(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT p.partner_id, p.name, p.partner_type, p.region,"
        " coalesce(json_agg(json_build_object('agreement_id', a.agreement_id, 'purposes', a.purposes,"
        " 'fields', a.fields, 'revoked', a.revoked, 'revision', a.revision))"
        " FILTER (WHERE a.agreement_id IS NOT NULL), '[]') AS agreements"
        " FROM partners p LEFT JOIN agreements a ON a.partner_id = p.partner_id"
        " GROUP BY p.partner_id ORDER BY p.partner_id")
    return [dict(r) for r in rows]
