"""SQL for referral's tables."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import AgreementChanged, CaseOpened, EscalationRaised, PartnerRegistered, ReferralRequested

OPEN_REFERRAL = ("requested", "accepted", "progressed")


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


async def find_partners(conn: asyncpg.Connection, partner_type: str, region: str, purpose: str,
                        today: date) -> list[asyncpg.Record]:
    """Partners of that type in the region with an agreement valid today for the purpose, in a fixed order."""
    return await conn.fetch(
        """
        SELECT DISTINCT ON (p.partner_id) p.partner_id, a.fields, a.agreement_id
        FROM partners p JOIN agreements a ON a.partner_id = p.partner_id
        WHERE p.partner_type = $1 AND p.region = $2 AND $3 = ANY (a.purposes) AND NOT a.revoked
          AND a.valid_from <= $4 AND (a.valid_until IS NULL OR a.valid_until >= $4)
        ORDER BY p.partner_id, a.agreement_id
        """,
        partner_type, region, purpose, today)


# -- cases -------------------------------------------------------------------------------------


async def add_case(conn: asyncpg.Connection, case: CaseOpened, region: str, at: datetime,
                   status: str = "open") -> bool:
    """False when the case was known already. Without its details (erased) it is kept closed."""
    return bool(await conn.fetchval(
        "INSERT INTO cases (case_id, region, category, opened, updated_at, status) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (case_id) DO NOTHING RETURNING true",
        case.case_id, region, case.category,
        case.model_dump(mode="json", exclude={"sealed"}) if case.details is not None else None, at, status))


async def add_erased_case(conn: asyncpg.Connection, case_id: UUID, at: datetime) -> bool:
    """A tombstone for a case erased before its case.opened arrived; False when it was known."""
    return bool(await conn.fetchval(
        "INSERT INTO cases (case_id, region, category, status, opened, updated_at)"
        " VALUES ($1, '', '', 'closed', NULL, $2) ON CONFLICT (case_id) DO NOTHING RETURNING true", case_id, at))


async def get_case(conn: asyncpg.Connection, case_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT case_id, region, category, status, opened FROM cases WHERE case_id = $1",
                               case_id)


async def set_case_status(conn: asyncpg.Connection, case_id: UUID, status: str, at: datetime) -> None:
    await conn.execute("UPDATE cases SET status = $2, updated_at = $3 WHERE case_id = $1", case_id, status, at)


async def erase_case(conn: asyncpg.Connection, case_id: UUID) -> None:
    """case.erased: drop the personal data; ids, statuses and dates stay for the ladder's history."""
    await conn.execute("UPDATE referrals SET details = NULL WHERE case_id = $1", case_id)
    await conn.execute("UPDATE cases SET opened = NULL, status = 'closed' WHERE case_id = $1", case_id)
    # reasons may quote a partner (a decline's free text): the level and the dates stay
    await conn.execute("UPDATE escalations SET reason = 'erased' WHERE case_id = $1", case_id)
    await conn.execute("DELETE FROM timers WHERE case_id = $1 AND fired_at IS NULL", case_id)


# -- referrals -------------------------------------------------------------------------------


async def add_referral(conn: asyncpg.Connection, r: ReferralRequested, rule_name: str | None = None,
                       route_type: str | None = None, option_index: int | None = None) -> None:
    await conn.execute(
        "INSERT INTO referrals (referral_id, case_id, partner_id, partner_type, purpose, legal_basis, status,"
        " details, respond_by, resolve_by, requested_at, updated_at, rule_name, route_type, option_index)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9, $10, $10, $11, $12, $13)",
        r.referral_id, r.case_id, r.partner_id, r.partner_type.value, r.purpose, r.legal_basis,
        r.details.model_dump(mode="json", exclude_none=True), r.respond_by, r.resolve_by, r.requested_at,
        rule_name, route_type, option_index)


async def get_referral(conn: asyncpg.Connection, referral_id: UUID) -> asyncpg.Record | None:
    """The referral, locked: its partner's response and its deadline must not cross."""
    return await conn.fetchrow(
        "SELECT referral_id, case_id, partner_id, partner_type, status, respond_by, resolve_by, rule_name,"
        " route_type, option_index FROM referrals WHERE referral_id = $1 FOR UPDATE", referral_id)


async def set_referral_status(conn: asyncpg.Connection, referral_id: UUID, status: str, at: Any) -> None:
    await conn.execute("UPDATE referrals SET status = $2, updated_at = $3 WHERE referral_id = $1",
                       referral_id, status, at)


async def partners_tried(conn: asyncpg.Connection, case_id: UUID, rule_name: str, route_type: str) -> set[str]:
    rows = await conn.fetch("SELECT partner_id FROM referrals WHERE case_id = $1 AND rule_name = $2"
                            " AND route_type = $3", case_id, rule_name, route_type)
    return {r["partner_id"] for r in rows}


async def routes_referred(conn: asyncpg.Connection, case_id: UUID) -> set[tuple[str, str]]:
    rows = await conn.fetch("SELECT DISTINCT rule_name, route_type FROM referrals WHERE case_id = $1"
                            " AND rule_name IS NOT NULL", case_id)
    return {(r["rule_name"], r["route_type"]) for r in rows}


async def open_referrals(conn: asyncpg.Connection, case_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT referral_id, partner_id FROM referrals WHERE case_id = $1 AND status = ANY ($2::text[])"
        " ORDER BY requested_at FOR UPDATE", case_id, list(OPEN_REFERRAL))


# -- escalations -------------------------------------------------------------------------------


async def add_escalation(conn: asyncpg.Connection, e: EscalationRaised, ladder: str | None = None,
                         step: int | None = None) -> None:
    await conn.execute(
        "INSERT INTO escalations (escalation_id, case_id, level, reason, referral_id, raised_at, ladder, step,"
        " owner_partner_id, reason_code, response_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        e.escalation_id, e.case_id, e.level, e.reason, e.referral_id, e.raised_at, ladder, step,
        e.owner_partner_id, e.reason_code, e.response_code)


async def get_escalation(conn: asyncpg.Connection, escalation_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT escalation_id, case_id, level, referral_id, ladder, step, owner_partner_id, resolved_at,"
        " response_code FROM escalations WHERE escalation_id = $1 FOR UPDATE", escalation_id)


async def open_escalations(conn: asyncpg.Connection, case_id: UUID,
                           referral_id: UUID | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT escalation_id, level FROM escalations WHERE case_id = $1 AND resolved_at IS NULL"
        " AND ($2::uuid IS NULL OR referral_id = $2) ORDER BY raised_at FOR UPDATE", case_id, referral_id)


async def repeat_escalation_exists(conn: asyncpg.Connection, case_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM escalations WHERE case_id = $1"
                               " AND (reason_code = 'herhaalde_meldingen' OR reason LIKE 'repeat threshold%'))",
                               case_id)


async def resolve_escalation(conn: asyncpg.Connection, escalation_id: UUID, at: datetime) -> None:
    await conn.execute("UPDATE escalations SET resolved_at = $2 WHERE escalation_id = $1", escalation_id, at)


# -- timers ----------------------------------------------------------------------------------


async def add_timer(conn: asyncpg.Connection, kind: str, case_id: UUID, due_at: datetime, *,
                    referral_id: UUID | None = None, escalation_id: UUID | None = None) -> None:
    await conn.execute(
        "INSERT INTO timers (kind, case_id, referral_id, escalation_id, due_at) VALUES ($1, $2, $3, $4, $5)",
        kind, case_id, referral_id, escalation_id, due_at)


async def claim_due_timers(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Due timers no other instance holds; they stay locked until this transaction ends."""
    return await conn.fetch(
        "SELECT timer_id, kind, case_id, referral_id, escalation_id, due_at FROM timers"
        " WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at, timer_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now, limit)


async def mark_fired(conn: asyncpg.Connection, timer_id: int, at: datetime) -> None:
    await conn.execute("UPDATE timers SET fired_at = $2 WHERE timer_id = $1", timer_id, at)


# -- reads for the HTTP API ----------------------------------------------------------------------


async def list_referrals(conn: asyncpg.Connection, case_id: UUID | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT referral_id, case_id, partner_id, partner_type, purpose, status, respond_by, resolve_by,"
        " requested_at FROM referrals WHERE $1::uuid IS NULL OR case_id = $1 ORDER BY requested_at DESC LIMIT 200",
        case_id)
    return [dict(r) for r in rows]


async def list_escalations(conn: asyncpg.Connection, case_id: UUID | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT escalation_id, case_id, level, reason, referral_id, owner_partner_id, raised_at, resolved_at"
        " FROM escalations WHERE $1::uuid IS NULL OR case_id = $1 ORDER BY raised_at DESC LIMIT 200", case_id)
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
