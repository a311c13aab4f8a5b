"""SQL for intake's tables. Functions take the connection of the caller's unit of work."""

import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import CaseOpened, ComplaintReceived, ObservationRecorded
from services.intake.domain.model import PartStatus, Reporter, address_key, family


async def lock_unit(conn: asyncpg.Connection, corporation_id: str, key: str, category_family: str) -> None:
    """Serialise submits for one unit and family, so two at once cannot both open a case."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"intake:{corporation_id}:{key}:{category_family}")


async def open_case_of_unit(conn: asyncpg.Connection, corporation_id: str, key: str,
                            category_family: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT case_id, last_complaint_at, (SELECT count(*) FROM complaints c WHERE c.case_id = cases.case_id)"
        " AS complaints FROM cases WHERE corporation_id = $1 AND address_key = $2 AND category_family = $3"
        " AND status = 'open' ORDER BY last_complaint_at DESC LIMIT 1",
        corporation_id, key, category_family)


async def building_ref(conn: asyncpg.Connection, postcode: str, huisnummer: int) -> str:
    """The building's random reference, made on first use (concurrent first uses agree)."""
    return await conn.fetchval(
        "INSERT INTO buildings (building_ref, postcode, huisnummer) VALUES ($1, $2, $3)"
        " ON CONFLICT (postcode, huisnummer) DO UPDATE SET postcode = EXCLUDED.postcode RETURNING building_ref",
        "bld-" + secrets.token_hex(16), postcode, huisnummer)


async def building(conn: asyncpg.Connection, ref: str, corporation_id: str) -> dict[str, Any] | None:
    """The address behind a reference, with the corporation's own cases there; None when it
    has none (then the reference is not its to resolve)."""
    rows = await conn.fetch(
        "SELECT b.postcode, b.huisnummer, c.case_id, c.status FROM buildings b JOIN cases c USING (building_ref)"
        " WHERE b.building_ref = $1 AND c.corporation_id = $2 ORDER BY c.opened_at", ref, corporation_id)
    if not rows:
        return None
    return {"building_ref": ref, "postcode": rows[0]["postcode"], "huisnummer": rows[0]["huisnummer"],
            "cases": [{"case_id": r["case_id"], "status": r["status"]} for r in rows]}


async def add_case(conn: asyncpg.Connection, opened: CaseOpened, complaint_id: UUID, reporter: Reporter,
                   source_shape: str = "samenwijk") -> None:
    address = opened.details.address
    await conn.execute(
        "INSERT INTO cases (case_id, corporation_id, category, severity, buurt_code, wijk_code, details,"
        " handling_professional, opened_at, address_key, category_family, customer_group, source_shape,"
        " last_complaint_at, building_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $9, $14)",
        opened.case_id, opened.corporation_id, opened.category, opened.severity.value, opened.buurt_code,
        opened.wijk_code, opened.details.model_dump(mode="json", exclude_none=True),
        opened.handling_professional, opened.opened_at, address_key(address) if address else None,
        family(opened.category),
        opened.customer_group.model_dump(exclude_none=True) if opened.customer_group else None, source_shape,
        opened.building_ref,
    )
    await add_complaint(conn, complaint_id, opened.case_id, opened.opened_at, opened.details.description,
                        reporter, 1)


async def add_complaint(conn: asyncpg.Connection, complaint_id: UUID, case_id: UUID, at: datetime,
                        description: str | None, reporter: Reporter, repeat_count: int) -> None:
    await conn.execute(
        "INSERT INTO complaints (complaint_id, case_id, received_at, description, reporter, repeat_count)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        complaint_id, case_id, at, description, reporter.model_dump(exclude_none=True), repeat_count,
    )


async def join_complaint(conn: asyncpg.Connection, complaint: ComplaintReceived, description: str,
                         reporter: Reporter) -> None:
    await add_complaint(conn, complaint.complaint_id, complaint.case_id, complaint.received_at, description,
                        reporter, complaint.repeat_count)
    await conn.execute("UPDATE cases SET last_complaint_at = $2 WHERE case_id = $1",
                       complaint.case_id, complaint.received_at)


async def get_case(conn: asyncpg.Connection, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1" + (" FOR UPDATE" if for_update else ""),
                              case_id)
    if row is None:
        return None
    case = dict(row)
    case["parts"] = [dict(r) for r in await conn.fetch(
        "SELECT referral_id, partner_id, partner_type, purpose, status, reason, respond_by, updated_at,"
        " response_kind, response_code, partner_note FROM case_parts WHERE case_id = $1 ORDER BY updated_at", case_id)]
    case["escalations"] = [dict(r) for r in await conn.fetch(
        "SELECT e.escalation_id, e.level, e.reason, e.referral_id, e.raised_at, r.resolved_at,"
        " r.reason AS resolution FROM case_escalations e"
        " LEFT JOIN escalation_resolutions r USING (escalation_id) WHERE e.case_id = $1"
        " ORDER BY e.raised_at", case_id)]
    case["complaint_count"] = await conn.fetchval("SELECT count(*) FROM complaints WHERE case_id = $1", case_id)
    case["observation_count"] = await conn.fetchval("SELECT count(*) FROM observations WHERE case_id = $1",
                                                    case_id)
    return case


async def list_cases(conn: asyncpg.Connection, corporation_id: str, *, status: str | None, category: str | None,
                     buurt_code: str | None, opened_from: date | None, opened_to: date | None,
                     after: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; `after` is the (opened_at, case_id) of the last case of the previous page."""
    rows = await conn.fetch(
        """
        SELECT case_id, category, severity, buurt_code, wijk_code, status, handling_professional,
               opened_at, closed_at, outcome,
               (SELECT count(*) FROM complaints c WHERE c.case_id = cases.case_id) AS complaint_count
        FROM cases
        WHERE corporation_id = $1
          AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR category = $3 OR category_family = $3)
          AND ($4::text IS NULL OR buurt_code = $4)
          AND ($5::date IS NULL OR opened_at >= $5::date)
          AND ($6::date IS NULL OR opened_at < $6::date + 1)
          AND ($7::timestamptz IS NULL OR (opened_at, case_id) < ($7, $8::uuid))
        ORDER BY opened_at DESC, case_id DESC
        LIMIT $9
        """,
        corporation_id, status, category, buurt_code, opened_from, opened_to,
        after[0] if after else None, after[1] if after else None, limit)
    return [dict(r) for r in rows]


async def close_case(conn: asyncpg.Connection, case_id: UUID, outcome: str, cost: Decimal | None,
                     at: datetime) -> None:
    await conn.execute("UPDATE cases SET status = 'closed', closed_at = $2, outcome = $3,"
                       " liveability_cost_eur = $4 WHERE case_id = $1", case_id, at, outcome, cost)


async def reopen_case(conn: asyncpg.Connection, case_id: UUID, at: datetime) -> None:
    # a reopened case takes repeats again from now on
    await conn.execute("UPDATE cases SET status = 'open', closed_at = NULL, outcome = NULL,"
                       " liveability_cost_eur = NULL, reopened_at = $2, last_complaint_at = $2"
                       " WHERE case_id = $1", case_id, at)


async def add_observation(conn: asyncpg.Connection, observed: ObservationRecorded) -> None:
    await conn.execute(
        "INSERT INTO observations (observation_id, corporation_id, case_id, observer, category, buurt_code,"
        " wijk_code, address, note, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        observed.observation_id, observed.corporation_id, observed.case_id, observed.observer, observed.category,
        observed.buurt_code, observed.wijk_code,
        observed.address.model_dump(exclude_none=True) if observed.address else None, observed.note,
        observed.recorded_at)


# -- idempotency ---------------------------------------------------------------------------

async def claim_idempotency_key(conn: asyncpg.Connection, corporation_id: str, key: str) -> asyncpg.Record | None:
    """The stored answer for this key, or None when the key is new. A concurrent request
    with the same key waits here until the first one commits."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"intake:idempotency:{corporation_id}:{key}")
    return await conn.fetchrow("SELECT fingerprint, status_code, response FROM idempotency_keys"
                               " WHERE corporation_id = $1 AND key = $2", corporation_id, key)


async def store_idempotent_response(conn: asyncpg.Connection, corporation_id: str, key: str, fingerprint: str,
                                    status_code: int, response: dict[str, Any]) -> None:
    # the case (or lone observation) the request made: the stored answer goes with it
    subject = response.get("case_id") or response.get("observation_id")
    await conn.execute(
        "INSERT INTO idempotency_keys (corporation_id, key, fingerprint, status_code, response, subject)"
        " VALUES ($1, $2, $3, $4, $5, $6)", corporation_id, key, fingerprint, status_code, response,
        str(subject) if subject else None)


async def forget_idempotency(conn: asyncpg.Connection, subject: UUID) -> None:
    await conn.execute("DELETE FROM idempotency_keys WHERE subject = $1", str(subject))


async def purge_idempotency(conn: asyncpg.Connection, created_before: datetime) -> int:
    """Keys are for retries: after their time-to-live they go, whatever they made."""
    return await conn.fetchval("WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < $1 RETURNING 1)"
                               " SELECT count(*) FROM gone", created_before)


# -- retention -----------------------------------------------------------------------------

async def cases_to_erase(conn: asyncpg.Connection, closed_before: datetime, limit: int) -> list[asyncpg.Record]:
    """Closed cases past retention, locked; another instance skips them."""
    return await conn.fetch(
        "SELECT case_id, corporation_id FROM cases WHERE status = 'closed' AND closed_at <= $1"
        " ORDER BY closed_at LIMIT $2 FOR UPDATE SKIP LOCKED", closed_before, limit)


async def erase_case(conn: asyncpg.Connection, case_id: UUID, at: datetime) -> None:
    """Drop the personal data; what stays (category, buurt, dates, outcome, cost, customer
    group categories) is anonymous."""
    ref = await conn.fetchval(
        "WITH old AS (SELECT building_ref FROM cases WHERE case_id = $1)"
        " UPDATE cases SET status = 'erased', erased_at = $2, details = '{}'::jsonb, address_key = NULL,"
        " handling_professional = NULL, building_ref = NULL WHERE case_id = $1 RETURNING (SELECT * FROM old)",
        case_id, at)
    # the address stays only while some case still needs it
    await conn.execute("DELETE FROM buildings b WHERE building_ref = $1"
                       " AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.building_ref = b.building_ref)", ref)
    await conn.execute("UPDATE complaints SET description = NULL, reporter = NULL WHERE case_id = $1", case_id)
    await conn.execute("UPDATE observations SET address = NULL, note = NULL, observer = 'erased'"
                       " WHERE case_id = $1", case_id)
    await conn.execute("UPDATE case_parts SET reason = NULL, partner_note = NULL, response_code = NULL"
                       " WHERE case_id = $1", case_id)
    # escalation reasons may quote a partner: level and dates stay
    await conn.execute("UPDATE case_escalations SET reason = NULL WHERE case_id = $1", case_id)
    await conn.execute("UPDATE escalation_resolutions SET reason = 'erased' WHERE case_id = $1", case_id)
    await conn.execute("UPDATE observations SET erased_at = $2 WHERE case_id = $1", case_id, at)


async def observations_to_erase(conn: asyncpg.Connection, recorded_before: datetime,
                                limit: int) -> list[asyncpg.Record]:
    """Observations that never joined a case, past retention, locked; another instance skips them."""
    return await conn.fetch(
        "SELECT observation_id, corporation_id FROM observations WHERE case_id IS NULL AND erased_at IS NULL"
        " AND recorded_at <= $1 ORDER BY recorded_at LIMIT $2 FOR UPDATE SKIP LOCKED", recorded_before, limit)


async def erase_observation(conn: asyncpg.Connection, observation_id: UUID, at: datetime) -> None:
    await conn.execute("UPDATE observations SET address = NULL, note = NULL, observer = 'erased', erased_at = $2"
                       " WHERE observation_id = $1", observation_id, at)


# -- partner parts -------------------------------------------------------------------------

async def upsert_part(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                      status: PartStatus, rank: int, at: datetime, partner_type: str | None = None,
                      purpose: str | None = None, reason: str | None = None,
                      respond_by: datetime | None = None, response_kind: str | None = None,
                      response_code: str | None = None, partner_note: str | None = None) -> None:
    """Record a part's status; a later-stage status is never overwritten by an earlier one."""
    await conn.execute(
        """
        INSERT INTO case_parts AS p (referral_id, case_id, partner_id, partner_type, purpose, status,
                                     status_rank, reason, respond_by, updated_at, response_kind, response_code,
                                     partner_note)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (referral_id) DO UPDATE SET
            partner_type = COALESCE(p.partner_type, EXCLUDED.partner_type),
            purpose      = COALESCE(p.purpose, EXCLUDED.purpose),
            respond_by   = COALESCE(p.respond_by, EXCLUDED.respond_by),
            status       = CASE WHEN EXCLUDED.status_rank >= p.status_rank THEN EXCLUDED.status ELSE p.status END,
            reason       = CASE WHEN EXCLUDED.status_rank >= p.status_rank THEN EXCLUDED.reason ELSE p.reason END,
            -- the latest response's code (and note) go together; a non-response status keeps them
            response_kind = CASE WHEN EXCLUDED.response_code IS NOT NULL AND EXCLUDED.status_rank >= p.status_rank
                                 THEN EXCLUDED.response_kind ELSE p.response_kind END,
            response_code = CASE WHEN EXCLUDED.response_code IS NOT NULL AND EXCLUDED.status_rank >= p.status_rank
                                 THEN EXCLUDED.response_code ELSE p.response_code END,
            partner_note  = CASE WHEN EXCLUDED.response_code IS NOT NULL AND EXCLUDED.status_rank >= p.status_rank
                                 THEN EXCLUDED.partner_note ELSE p.partner_note END,
            status_rank  = GREATEST(p.status_rank, EXCLUDED.status_rank),
            updated_at   = GREATEST(p.updated_at, EXCLUDED.updated_at)
        """,
        referral_id, case_id, partner_id, partner_type, purpose, status.value, rank,
        reason, respond_by, at, response_kind, response_code, partner_note,
    )


async def add_escalation(conn: asyncpg.Connection, escalation_id: UUID, case_id: UUID, level: str,
                         reason: str | None, raised_at: datetime, referral_id: UUID | None) -> None:
    await conn.execute(
        "INSERT INTO case_escalations (escalation_id, case_id, level, reason, raised_at, referral_id)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        escalation_id, case_id, level, reason, raised_at, referral_id,
    )


async def part_exists(conn: asyncpg.Connection, referral_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM case_parts WHERE referral_id = $1)", referral_id)


async def escalate_part(conn: asyncpg.Connection, referral_id: UUID, rank: int, reason: str,
                        at: datetime) -> None:
    """Mark the part escalated unless it is already further along (completed, withdrawn)."""
    await conn.execute(
        "UPDATE case_parts SET status = 'escalated', status_rank = $2, reason = $3,"
        " updated_at = GREATEST(updated_at, $4) WHERE referral_id = $1 AND status_rank <= $2",
        referral_id, rank, reason, at)


async def resolve_escalation(conn: asyncpg.Connection, escalation_id: UUID, case_id: UUID, reason: str,
                             resolved_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO escalation_resolutions (escalation_id, case_id, reason, resolved_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", escalation_id, case_id, reason, resolved_at)


# -- API clients ---------------------------------------------------------------------------

async def add_client(conn: asyncpg.Connection, client_id: str, organisation_id: str, org_type: str,
                     scopes: list[str], secret_hash: str) -> None:
    await conn.execute("INSERT INTO api_clients (client_id, organisation_id, org_type, scopes, secret_hash)"
                       " VALUES ($1, $2, $3, $4, $5)", client_id, organisation_id, org_type, scopes, secret_hash)


async def get_client(conn: asyncpg.Connection, client_id: str) -> asyncpg.Record | None:
    """An active (not revoked) client."""
    return await conn.fetchrow("SELECT client_id, organisation_id, org_type, scopes, secret_hash FROM api_clients"
                               " WHERE client_id = $1 AND revoked_at IS NULL", client_id)


_CLIENT_VIEW = "client_id, organisation_id, org_type, scopes, created_at, secret_rotated_at, revoked_at"


async def list_clients(conn: asyncpg.Connection, organisation_id: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_CLIENT_VIEW} FROM api_clients"
                            " WHERE $1::text IS NULL OR organisation_id = $1 ORDER BY created_at, client_id",
                            organisation_id)


async def revoke_client(conn: asyncpg.Connection, client_id: str, at: datetime) -> asyncpg.Record | None:
    """Revokes once; a second revocation keeps the first time."""
    return await conn.fetchrow(f"UPDATE api_clients SET revoked_at = coalesce(revoked_at, $2)"
                               f" WHERE client_id = $1 RETURNING {_CLIENT_VIEW}", client_id, at)


async def replace_client_secret(conn: asyncpg.Connection, client_id: str, secret_hash: str,
                                at: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(f"UPDATE api_clients SET secret_hash = $2, secret_rotated_at = $3"
                               f" WHERE client_id = $1 AND revoked_at IS NULL RETURNING {_CLIENT_VIEW}",
                               client_id, secret_hash, at)
