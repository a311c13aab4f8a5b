"""SQL for partners' tables."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.partners.domain.model import AgreementSeed, PartnerSeed, ReferralStatus, RetrySchedule

# -- registry -------------------------------------------------------------------------------


async def add_partner_if_new(conn: asyncpg.Connection, p: PartnerSeed, now: datetime) -> None:
    """Seeding: only what is not there yet (the admin API manages what exists)."""
    await conn.execute(
        "INSERT INTO partners (partner_id, name, partner_type, region, coordinator, registered_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partner_id) DO NOTHING",
        p.partner_id, p.name, p.partner_type.value, p.region, p.coordinator, now)


async def add_agreement_if_new(conn: asyncpg.Connection, partner_id: str, a: AgreementSeed, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO agreements (agreement_id, partner_id, purposes, fields, legal_basis, valid_from, valid_until,"
        " revoked, free_text_recipients, revision, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, 1, $9)"
        " ON CONFLICT (agreement_id) DO NOTHING",
        a.agreement_id, partner_id, a.purposes, a.fields, a.legal_basis, a.valid_from, a.valid_until, a.revoked, now,
        [r.value for r in a.free_text_recipients])


async def upsert_partner(conn: asyncpg.Connection, p: PartnerSeed, now: datetime) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO partners (partner_id, name, partner_type, region, coordinator, registered_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name,"
        " partner_type = EXCLUDED.partner_type, region = EXCLUDED.region, coordinator = EXCLUDED.coordinator"
        " RETURNING *",
        p.partner_id, p.name, p.partner_type.value, p.region, p.coordinator, now)


async def upsert_agreement(conn: asyncpg.Connection, partner_id: str, a: AgreementSeed, now: datetime) -> asyncpg.Record | None:
    """Store the agreement; its revision goes up only when its content changed (None: unchanged)."""
    return await conn.fetchrow(
        """
        INSERT INTO agreements AS cur (agreement_id, partner_id, purposes, fields, legal_basis, valid_from,
                                       valid_until, revoked, free_text_recipients, revision, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, 1, $9)
        ON CONFLICT (agreement_id) DO UPDATE SET
            purposes = EXCLUDED.purposes, fields = EXCLUDED.fields, legal_basis = EXCLUDED.legal_basis,
            valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until, revoked = EXCLUDED.revoked,
            free_text_recipients = EXCLUDED.free_text_recipients,
            revision = cur.revision + 1, changed_at = EXCLUDED.changed_at
        WHERE cur.partner_id = EXCLUDED.partner_id
          AND (cur.purposes, cur.fields, cur.legal_basis, cur.valid_from, cur.valid_until, cur.revoked,
               cur.free_text_recipients)
              IS DISTINCT FROM
              (EXCLUDED.purposes, EXCLUDED.fields, EXCLUDED.legal_basis, EXCLUDED.valid_from,
               EXCLUDED.valid_until, EXCLUDED.revoked, EXCLUDED.free_text_recipients)
        RETURNING *
        """,
        a.agreement_id, partner_id, a.purposes, a.fields, a.legal_basis, a.valid_from, a.valid_until,
        a.revoked, now, [r.value for r in a.free_text_recipients])


async def revoke_agreement(conn: asyncpg.Connection, agreement_id: str, now: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE agreements SET revoked = true, revision = revision + 1, changed_at = $2"
        " WHERE agreement_id = $1 AND NOT revoked RETURNING *", agreement_id, now)


async def get_agreement(conn: asyncpg.Connection, agreement_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM agreements WHERE agreement_id = $1", agreement_id)


async def agreements(conn: asyncpg.Connection, partner_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM agreements WHERE $1::text IS NULL OR partner_id = $1"
                            " ORDER BY agreement_id", partner_id)


async def partners(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM partners ORDER BY partner_id")


async def get_partner(conn: asyncpg.Connection, partner_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM partners WHERE partner_id = $1", partner_id)


async def current_agreement(conn: asyncpg.Connection, partner_id: str, purpose: str,
                            today: date) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM agreements WHERE partner_id = $1 AND $2 = ANY (purposes) AND NOT revoked"
        " AND valid_from <= $3 AND (valid_until IS NULL OR valid_until >= $3)"
        " ORDER BY revision DESC LIMIT 1",
        partner_id, purpose, today)


async def current_fields(conn: asyncpg.Connection, partner_id: str, today: date) -> dict[str, set[str]]:
    """Per purpose, the fields the partner's agreements allow today."""
    allowed: dict[str, set[str]] = {}
    for row in await conn.fetch(
            "SELECT unnest(purposes) AS purpose, fields FROM agreements WHERE partner_id = $1 AND NOT revoked"
            " AND valid_from <= $2 AND (valid_until IS NULL OR valid_until >= $2)", partner_id, today):
        allowed.setdefault(row["purpose"], set()).update(row["fields"])
    return allowed


# -- referrals ------------------------------------------------------------------------------


async def add_referral(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                       purpose: str, legal_basis: str, status: ReferralStatus, hold_reason: str | None,
                       payload: dict[str, Any] | None, requested_at: datetime, now: datetime) -> bool:
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


async def record_response(conn: asyncpg.Connection, referral_id: UUID, status: ReferralStatus, kind: str,
                          code: str, text: str | None, now: datetime) -> asyncpg.Record:
    """Store the response's code and the partner's text (the text is for the partner and the
    recipients its agreement names; erased with the case)."""
    return await conn.fetchrow(
        "UPDATE referrals SET status = $2,"
        " response_code = CASE WHEN $3 IN ('accept', 'decline') THEN $4 ELSE response_code END,"
        " response = CASE WHEN $3 IN ('accept', 'decline') THEN $5 ELSE response END,"
        " progress = CASE WHEN $3 = 'progress' THEN progress || jsonb_build_array(jsonb_build_object("
        "   'code', $4::text, 'note', $5::text, 'at', $6::timestamptz)) ELSE progress END,"
        " outcome_code = CASE WHEN $3 = 'complete' THEN $4 ELSE outcome_code END,"
        " outcome = CASE WHEN $3 = 'complete' THEN $5 ELSE outcome END,"
        " updated_at = $6 WHERE referral_id = $1 RETURNING *",
        referral_id, status.value, kind, code, text, now)


async def hold_referral(conn: asyncpg.Connection, referral_id: UUID, reason: str, now: datetime) -> None:
    await conn.execute("UPDATE referrals SET status = 'held', hold_reason = $2, updated_at = $3"
                       " WHERE referral_id = $1 AND status = 'delivered'", referral_id, reason, now)


async def release_referral(conn: asyncpg.Connection, referral_id: UUID, payload: dict[str, Any],
                           now: datetime) -> None:
    await conn.execute("UPDATE referrals SET status = 'delivered', hold_reason = NULL, payload = $2, updated_at = $3"
                       " WHERE referral_id = $1", referral_id, payload, now)


async def list_referrals(conn: asyncpg.Connection, *, partner_id: str | None, status: str | None,
                         purpose: str | None, case_id: UUID | None, limit: int,
                         before: tuple[datetime, UUID] | None) -> list[asyncpg.Record]:
    """Newest first; `before` is the keyset cursor (requested_at, referral_id) of the last item seen."""
    return await conn.fetch(
        "SELECT * FROM referrals WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR status = $2)"
        " AND ($3::text IS NULL OR purpose = $3) AND ($4::uuid IS NULL OR case_id = $4)"
        " AND ($6::timestamptz IS NULL OR (requested_at, referral_id) < ($6, $7::uuid))"
        " ORDER BY requested_at DESC, referral_id DESC LIMIT $5",
        partner_id, status, purpose, case_id, limit, *(before or (None, None)))


async def erase_case(conn: asyncpg.Connection, case_id: UUID) -> list[asyncpg.Record]:
    """Remove the personal data of a case's referrals and webhook deliveries; returns the referrals."""
    await conn.execute("UPDATE webhook_deliveries SET body = NULL,"
                       " status = CASE WHEN status IN ('pending', 'dead', 'held') THEN 'erased' ELSE status END"
                       " WHERE case_id = $1", case_id)
    return await conn.fetch(
        "UPDATE referrals SET payload = NULL, response = NULL, outcome = NULL, progress = '[]'::jsonb,"
        " response_code = NULL, outcome_code = NULL"
        " WHERE case_id = $1 RETURNING referral_id, partner_id, purpose, legal_basis", case_id)


async def referral_purposes(conn: asyncpg.Connection, case_id: UUID, partner_id: str) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT purpose FROM referrals WHERE case_id = $1 AND partner_id = $2"
                            " ORDER BY purpose", case_id, partner_id)
    return [r["purpose"] for r in rows]


async def set_case_owner(conn: asyncpg.Connection, case_id: UUID, corporation_id: str) -> None:
    await conn.execute("INSERT INTO case_owners (case_id, corporation_id) VALUES ($1, $2)"
                       " ON CONFLICT DO NOTHING", case_id, corporation_id)


async def case_owner(conn: asyncpg.Connection, case_id: UUID) -> str | None:
    return await conn.fetchval("SELECT corporation_id FROM case_owners WHERE case_id = $1", case_id)


async def processing_log(conn: asyncpg.Connection, case_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM processing_log WHERE case_id = $1 ORDER BY id", case_id)


# -- webhooks -------------------------------------------------------------------------------


async def set_subscription(conn: asyncpg.Connection, partner_id: str, url: str, secret_encrypted: bytes,
                           retry: RetrySchedule | None, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO webhook_subscriptions (partner_id, url, secret_encrypted, retry_initial_seconds,"
        " retry_max_seconds, retry_give_up_seconds, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (partner_id) DO UPDATE SET url = EXCLUDED.url, secret_encrypted = EXCLUDED.secret_encrypted,"
        " retry_initial_seconds = EXCLUDED.retry_initial_seconds, retry_max_seconds = EXCLUDED.retry_max_seconds,"
        " retry_give_up_seconds = EXCLUDED.retry_give_up_seconds, created_at = EXCLUDED.created_at",
        partner_id, url, secret_encrypted, retry.initial_s if retry else None, retry.maximum_s if retry else None,
        retry.give_up_after_s if retry else None, now)


async def delete_subscription(conn: asyncpg.Connection, partner_id: str) -> bool:
    return await conn.fetchval("DELETE FROM webhook_subscriptions WHERE partner_id = $1 RETURNING true",
                               partner_id) is not None


async def subscription(conn: asyncpg.Connection, partner_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM webhook_subscriptions WHERE partner_id = $1", partner_id)


async def subscriptions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT partner_id, url, retry_initial_seconds, retry_max_seconds, retry_give_up_seconds,"
                            " created_at FROM webhook_subscriptions ORDER BY partner_id")


async def add_delivery(conn: asyncpg.Connection, *, delivery_id: UUID, partner_id: str, case_id: UUID,
                       referral_id: UUID | None, purpose: str | None, legal_basis: str | None, event_type: str,
                       body: bytes, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO webhook_deliveries (delivery_id, partner_id, case_id, referral_id, purpose, legal_basis,"
        " event_type, body, status, window_start, next_attempt_at, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $9)",
        delivery_id, partner_id, case_id, referral_id, purpose, legal_basis, event_type, body, now)


async def claim_due_delivery(conn: asyncpg.Connection, now: datetime) -> asyncpg.Record | None:
    """One due delivery, locked for this transaction (other instances skip it)."""
    return await conn.fetchrow(
        "SELECT d.*, s.url, s.secret_encrypted, s.retry_initial_seconds, s.retry_max_seconds,"
        " s.retry_give_up_seconds FROM webhook_deliveries d"
        " LEFT JOIN webhook_subscriptions s USING (partner_id)"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= $1"
        " ORDER BY d.next_attempt_at LIMIT 1 FOR UPDATE OF d SKIP LOCKED", now)


async def finish_delivery(conn: asyncpg.Connection, delivery_id: UUID, status: str, attempts: int,
                          error: str | None, now: datetime) -> None:
    await conn.execute("UPDATE webhook_deliveries SET status = $2, attempts = $3, last_error = $4, finished_at = $5"
                       " WHERE delivery_id = $1", delivery_id, status, attempts, error, now)


async def retry_delivery(conn: asyncpg.Connection, delivery_id: UUID, attempts: int, error: str,
                         at: datetime) -> None:
    await conn.execute("UPDATE webhook_deliveries SET attempts = $2, last_error = $3, next_attempt_at = $4"
                       " WHERE delivery_id = $1", delivery_id, attempts, error, at)


async def redeliver(conn: asyncpg.Connection, delivery_id: UUID, now: datetime) -> asyncpg.Record | None:
    """A dead (or held) delivery starts a fresh retry window; an erased one cannot (no body)."""
    return await conn.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', window_start = $2, next_attempt_at = $2,"
        " finished_at = NULL WHERE delivery_id = $1 AND status IN ('dead', 'held') AND body IS NOT NULL"
        " RETURNING *", delivery_id, now)


async def deliveries(conn: asyncpg.Connection, status: str | None, partner_id: str | None,
                     limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT delivery_id, partner_id, case_id, referral_id, event_type, status, attempts, last_error,"
        " created_at, next_attempt_at, finished_at FROM webhook_deliveries"
        " WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR partner_id = $2)"
        " ORDER BY created_at DESC LIMIT $3", status, partner_id, limit)


async def dead_delivery_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'dead'")

