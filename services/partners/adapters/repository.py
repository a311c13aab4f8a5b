"""SQL for partners' tables."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.partners.domain.model import AgreementSeed, PartnerSeed, ReferralStatus


async def upsert_partner(conn: asyncpg.Connection, p: PartnerSeed, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO partners (partner_id, name, partner_type, region, coordinator, registered_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name,"
        " partner_type = EXCLUDED.partner_type, region = EXCLUDED.region, coordinator = EXCLUDED.coordinator",
        p.partner_id, p.name, p.partner_type.value, p.region, p.coordinator, now)


async def upsert_agreement(conn: asyncpg.Connection, partner_id: str, a: AgreementSeed, now: datetime) -> asyncpg.Record:
    """Store the agreement; its revision goes up only when its content changed."""
    return await conn.fetchrow(
        """
        INSERT INTO agreements AS cur (agreement_id, partner_id, purposes, fields, legal_basis, valid_from,
                                       valid_until, revoked, revision, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)
        ON CONFLICT (agreement_id) DO UPDATE SET
            purposes = EXCLUDED.purposes, fields = EXCLUDED.fields, legal_basis = EXCLUDED.legal_basis,
            valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until, revoked = EXCLUDED.revoked,
            revision = cur.revision + 1, changed_at = EXCLUDED.changed_at
        WHERE (cur.purposes, cur.fields, cur.legal_basis, cur.valid_from, cur.valid_until, cur.revoked)
              IS DISTINCT FROM
              (EXCLUDED.purposes, EXCLUDED.fields, EXCLUDED.legal_basis, EXCLUDED.valid_from,
               EXCLUDED.valid_until, EXCLUDED.revoked)
        RETURNING *
        """,
        a.agreement_id, partner_id, a.purposes, a.fields, a.legal_basis, a.valid_from, a.valid_until,
        a.revoked, now)


async def agreements(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM agreements ORDER BY agreement_id")


async def partners(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM partners ORDER BY partner_id")


async def current_agreement(conn: asyncpg.Connection, partner_id: str, purpose: str,
                            today: date) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM agreements WHERE partner_id = $1 AND $2 = ANY (purposes) AND NOT revoked"
        " AND valid_from <= $3 AND (valid_until IS NULL OR valid_until >= $3)"
        " ORDER BY revision DESC LIMIT 1",
        partner_id, purpose, today)


async def add_referral(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                       purpose: str, legal_basis: str, status: ReferralStatus, hold_reason: str | None,
                       payload: dict[str, Any], requested_at: datetime, now: datetime) -> bool:
    """False when this referral was stored before."""
    return bool(await conn.fetchval(
        "INSERT INTO referrals (referral_id, case_id, partner_id, purpose, legal_basis, status, hold_reason,"
        " payload, requested_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT DO NOTHING RETURNING true",
        referral_id, case_id, partner_id, purpose, legal_basis, status.value, hold_reason, payload,
        requested_at, now))


async def get_referral(conn: asyncpg.Connection, referral_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM referrals WHERE referral_id = $1{lock}", referral_id)


async def set_status(conn: asyncpg.Connection, referral_id: UUID, status: ReferralStatus, response: str | None,
                     now: datetime) -> None:
    await conn.execute("UPDATE referrals SET status = $2, response = $3, updated_at = $4 WHERE referral_id = $1",
                       referral_id, status.value, response, now)


async def list_referrals(conn: asyncpg.Connection, partner_id: str, status: str | None, limit: int,
                         before: datetime | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM referrals WHERE partner_id = $1 AND ($2::text IS NULL OR status = $2)"
        " AND ($4::timestamptz IS NULL OR requested_at < $4)"
        " ORDER BY requested_at DESC LIMIT $3",
        partner_id, status, limit, before)


async def erase_case(conn: asyncpg.Connection, case_id: UUID) -> None:
    await conn.execute("UPDATE referrals SET payload = NULL, response = NULL WHERE case_id = $1", case_id)
