"""SQL for reporting's read models: projections (idempotent upserts) and figures."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import CaseOpened

# -- projections --------------------------------------------------------------------------


async def add_case(conn: asyncpg.Connection, e: CaseOpened, record_key: int) -> None:
    group = e.customer_group
    await conn.execute(
        "INSERT INTO case_facts (case_id, corporation_id, category, severity, buurt_code, wijk_code, opened_at,"
        " professional, household_type, age_band, building_ref, record_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        e.case_id, e.corporation_id, e.category, e.severity.value, e.buurt_code, e.wijk_code, e.opened_at,
        e.handling_professional, group.household_type if group else None, group.age_band if group else None,
        e.building_ref, record_key)


async def close_case(conn: asyncpg.Connection, case_id: UUID, closed_at: datetime, cost: Decimal | None) -> bool:
    """False when the case is not known (yet)."""
    return _updated(await conn.execute(
        "UPDATE case_facts SET status = 'closed', closed_at = $2, liveability_cost_eur = $3"
        " WHERE case_id = $1", case_id, closed_at, cost))


async def reopen_case(conn: asyncpg.Connection, case_id: UUID) -> bool:
    return _updated(await conn.execute("UPDATE case_facts SET status = 'open', closed_at = NULL WHERE case_id = $1",
                                       case_id))


def _updated(status: str) -> bool:
    return status.split()[-1] != "0"


async def add_complaint(conn: asyncpg.Connection, complaint_id: UUID, case_id: UUID, category: str, buurt: str,
                        repeat_count: int, received_at: datetime, record_key: int) -> None:
    await conn.execute(
        "INSERT INTO complaint_facts (complaint_id, case_id, category, buurt_code, repeat_count, received_at,"
        " record_key) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        complaint_id, case_id, category, buurt, repeat_count, received_at, record_key)


async def add_observation(conn: asyncpg.Connection, observation_id: UUID, category: str, buurt: str, wijk: str,
                          recorded_at: datetime, record_key: int) -> None:
    await conn.execute(
        "INSERT INTO observation_facts (observation_id, category, buurt_code, wijk_code, recorded_at, record_key)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        observation_id, category, buurt, wijk, recorded_at, record_key)


async def record_referral(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                          status: str, record_key: int, partner_type: str | None = None, requested_at: datetime | None = None,
                          responded_at: datetime | None = None, respond_by: datetime | None = None,
                          breach: bool = False) -> None:
    """Referral and partner events come on different topics: merge whatever arrives first."""
    await conn.execute(
        """
        INSERT INTO referral_facts AS f (referral_id, case_id, partner_id, partner_type, status, requested_at,
                                         responded_at, respond_by, response_breach, record_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (referral_id) DO UPDATE SET
            partner_type = COALESCE(f.partner_type, EXCLUDED.partner_type),
            requested_at = COALESCE(f.requested_at, EXCLUDED.requested_at),
            respond_by = COALESCE(f.respond_by, EXCLUDED.respond_by),
            responded_at = COALESCE(f.responded_at, EXCLUDED.responded_at),
            response_breach = f.response_breach OR EXCLUDED.response_breach,
            status = CASE WHEN EXCLUDED.status IN ('requested', 'expired') THEN f.status ELSE EXCLUDED.status END
        """,
        referral_id, case_id, partner_id, partner_type, status, requested_at, responded_at, respond_by, breach,
        record_key)


async def add_escalation(conn: asyncpg.Connection, escalation_id: UUID, case_id: UUID, level: str,
                         raised_at: datetime, record_key: int) -> None:
    await conn.execute(
        "INSERT INTO escalation_facts (escalation_id, case_id, level, raised_at, record_key)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", escalation_id, case_id, level, raised_at, record_key)


async def resolve_escalation(conn: asyncpg.Connection, escalation_id: UUID, resolved_at: datetime) -> bool:
    return _updated(await conn.execute("UPDATE escalation_facts SET resolved_at = $2 WHERE escalation_id = $1",
                                       escalation_id, resolved_at))


# -- figures ------------------------------------------------------------------------------
# Every count `x` comes with `x_key`: the sum of the record keys of exactly the rows counted,
# the cell key that domain/disclosure.py rounds it by.

def _k(expr: str = "record_key", where: str = "") -> str:
    return f"coalesce(sum({expr}){f' FILTER (WHERE {where})' if where else ''}, 0)"


_CASE_FILTER = """($1::text IS NULL OR c.wijk_code = $1) AND ($2::text IS NULL OR c.category = $2)
                  AND ($3::text IS NULL OR c.buurt_code = $3)"""


async def case_figures(conn: asyncpg.Connection, wijk: str | None, category: str | None,
                       buurt: str | None) -> list[dict[str, Any]]:
    """Per buurt, category and month: new, open, closed, time to resolve, breaches, escalations."""
    rows = await conn.fetch(
        f"""
        WITH c AS (SELECT c.*, to_char(date_trunc('month', c.opened_at), 'YYYY-MM') AS month
                   FROM case_facts c WHERE {_CASE_FILTER}),
        breaches AS (SELECT case_id, count(*) AS n, sum(record_key) AS k FROM referral_facts
                     WHERE response_breach GROUP BY case_id),
        escalations AS (
            SELECT buurt_code, category, month, jsonb_object_agg(level, jsonb_build_array(n, k)) AS by_level FROM (
                SELECT c.buurt_code, c.category, c.month, e.level, count(*) AS n, sum(e.record_key) AS k
                FROM escalation_facts e JOIN c USING (case_id) GROUP BY 1, 2, 3, 4) l
            GROUP BY 1, 2, 3),
        g AS (
            SELECT c.buurt_code, c.wijk_code, c.category, c.month,
                   count(*) AS new, {_k("c.record_key")} AS new_key,
                   count(*) FILTER (WHERE c.status = 'open') AS open, {_k("c.record_key", "c.status = 'open'")} AS open_key,
                   count(*) FILTER (WHERE c.status = 'closed') AS closed,
                   {_k("c.record_key", "c.status = 'closed'")} AS closed_key,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.opened_at) / 86400)
                       FILTER (WHERE c.status = 'closed') AS median_days_to_resolve,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.opened_at) / 86400)
                       FILTER (WHERE c.status = 'closed') AS p90_days_to_resolve,
                   coalesce(sum(b.n), 0) AS response_breaches, {_k("b.k")} AS response_breaches_key
            FROM c LEFT JOIN breaches b USING (case_id)
            GROUP BY c.buurt_code, c.wijk_code, c.category, c.month)
        SELECT g.*, coalesce(e.by_level, '{{}}'::jsonb) AS escalations
        FROM g LEFT JOIN escalations e USING (buurt_code, category, month)
        ORDER BY g.month DESC, g.buurt_code, g.category
        """,
        wijk, category, buurt)
    return [dict(r) for r in rows]


async def partner_figures(conn: asyncpg.Connection, partner_id: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""
        SELECT partner_id, partner_type, to_char(date_trunc('month', requested_at), 'YYYY-MM') AS month,
               count(*) AS referrals, {_k()} AS referrals_key,
               count(*) FILTER (WHERE status = 'accepted') AS accepted, {_k(where="status = 'accepted'")} AS accepted_key,
               count(*) FILTER (WHERE status = 'declined') AS declined, {_k(where="status = 'declined'")} AS declined_key,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               {_k(where="status = 'completed'")} AS completed_key,
               count(*) FILTER (WHERE response_breach) AS response_breaches,
               {_k(where="response_breach")} AS response_breaches_key,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM responded_at - requested_at) / 3600)
                   FILTER (WHERE responded_at IS NOT NULL) AS median_hours_to_respond
        FROM referral_facts WHERE requested_at IS NOT NULL AND ($1::text IS NULL OR partner_id = $1)
        GROUP BY partner_id, partner_type, date_trunc('month', requested_at) ORDER BY month DESC, partner_id
        """, partner_id)
    return [dict(r) for r in rows]


async def time_of_day(conn: asyncpg.Connection, wijk: str | None, category: str | None) -> list[dict[str, Any]]:
    """Complaints and observations by weekday (1 = Monday) and hour, Dutch local time."""
    rows = await conn.fetch(
        """
        WITH events AS (
            SELECT cf.received_at AS at, 'complaint' AS kind, cf.record_key FROM complaint_facts cf
              JOIN case_facts c ON c.case_id = cf.case_id
             WHERE ($1::text IS NULL OR c.wijk_code = $1) AND ($2::text IS NULL OR cf.category = $2)
            UNION ALL
            SELECT o.recorded_at, 'observation', o.record_key FROM observation_facts o
             WHERE ($1::text IS NULL OR o.wijk_code = $1) AND ($2::text IS NULL OR o.category = $2))
        SELECT extract(isodow FROM at AT TIME ZONE 'Europe/Amsterdam')::int AS weekday,
               extract(hour FROM at AT TIME ZONE 'Europe/Amsterdam')::int AS hour, kind, count(*) AS count,
               sum(record_key) AS count_key
        FROM events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        wijk, category)
    return [dict(r) for r in rows]


OPEN, CLOSED = "status = 'open'", "status = 'closed'"


async def caseload(conn: asyncpg.Connection, corporation_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT coalesce(professional, '(onbekend)') AS professional,"
        f" count(*) FILTER (WHERE status = 'open') AS open, {_k(where=OPEN)} AS open_key,"
        f" count(*) FILTER (WHERE status = 'closed') AS closed, {_k(where=CLOSED)} AS closed_key"
        f" FROM case_facts WHERE corporation_id = $1 GROUP BY 1 ORDER BY 2 DESC, 1", corporation_id)
    return [dict(r) for r in rows]


async def spend(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT corporation_id, coalesce(sum(liveability_cost_eur), 0) AS spend_eur,"
        f" count(*) FILTER (WHERE liveability_cost_eur IS NOT NULL) AS closed_with_cost,"
        f" {_k(where='liveability_cost_eur IS NOT NULL')} AS closed_with_cost_key"
        f" FROM case_facts GROUP BY corporation_id")
    return [dict(r) for r in rows]


async def overlast_per_buurt_month(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT buurt_code, to_char(date_trunc('month', opened_at), 'YYYY-MM') AS month, count(*) AS cases,"
        " sum(record_key) AS cases_key FROM case_facts WHERE category LIKE 'overlast.%' GROUP BY 1, 2 ORDER BY 1, 2")
    return [dict(r) for r in rows]


# -- what the signal detection reads ------------------------------------------------------

async def repeat_buildings(conn: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT c.building_ref, min(c.buurt_code) AS buurt_code, count(*) AS complaints,"
        " sum(cf.record_key) AS complaints_key, count(DISTINCT split_part(cf.category, '.', 1)) AS families,"
        " array_agg(DISTINCT c.corporation_id) AS owners"
        " FROM complaint_facts cf JOIN case_facts c ON c.case_id = cf.case_id"
        " WHERE cf.received_at >= $1 AND c.building_ref IS NOT NULL GROUP BY c.building_ref", since)


async def resolve_times(conn: asyncpg.Connection, since: datetime, usual_since: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        WITH closed AS (SELECT buurt_code, category, closed_at, record_key,
                               extract(epoch FROM closed_at - opened_at) / 86400 AS days
                        FROM case_facts WHERE status = 'closed' AND closed_at >= $2),
        usual AS (SELECT category, percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median, count(*) AS n,
                         sum(record_key) AS k FROM closed GROUP BY category)
        SELECT b.buurt_code, b.category, percentile_cont(0.5) WITHIN GROUP (ORDER BY b.days) AS median,
               count(*) AS n, sum(b.record_key) AS n_key, u.median AS usual_median, u.n AS usual_n, u.k AS usual_n_key
        FROM closed b JOIN usual u USING (category) WHERE b.closed_at >= $1
        GROUP BY b.buurt_code, b.category, u.median, u.n, u.k
        """,
        since, usual_since)


async def neglect_and_complaints(conn: asyncpg.Connection, since: datetime, before: datetime) -> list[asyncpg.Record]:
    now, earlier = "recorded_at >= $1", "recorded_at >= $2 AND recorded_at < $1"
    neglect = "category LIKE 'leefbaarheid.%'"
    return await conn.fetch(
        f"""
        WITH b AS (SELECT DISTINCT buurt_code FROM observation_facts WHERE recorded_at >= $2),
        o AS (SELECT buurt_code, count(*) FILTER (WHERE {neglect} AND {now}) AS observations_now,
                     {_k(where=f"{neglect} AND {now}")} AS observations_now_key,
                     count(*) FILTER (WHERE {neglect} AND {earlier}) AS observations_before,
                     {_k(where=f"{neglect} AND {earlier}")} AS observations_before_key
              FROM observation_facts GROUP BY buurt_code),
        c AS (SELECT buurt_code, count(*) FILTER (WHERE received_at >= $1) AS complaints_now,
                     {_k(where="received_at >= $1")} AS complaints_now_key,
                     count(*) FILTER (WHERE received_at >= $2 AND received_at < $1) AS complaints_before,
                     {_k(where="received_at >= $2 AND received_at < $1")} AS complaints_before_key
              FROM complaint_facts GROUP BY buurt_code)
        SELECT b.buurt_code, coalesce(o.observations_now, 0) AS observations_now,
               coalesce(o.observations_now_key, 0) AS observations_now_key,
               coalesce(o.observations_before, 0) AS observations_before,
               coalesce(o.observations_before_key, 0) AS observations_before_key,
               coalesce(c.complaints_now, 0) AS complaints_now, coalesce(c.complaints_now_key, 0) AS complaints_now_key,
               coalesce(c.complaints_before, 0) AS complaints_before,
               coalesce(c.complaints_before_key, 0) AS complaints_before_key
        FROM b LEFT JOIN o USING (buurt_code) LEFT JOIN c USING (buurt_code)
        """,
        since, before)


async def arrears_shares(conn: asyncpg.Connection, since: datetime, before: datetime,
                         dimension: str) -> list[asyncpg.Record]:
    """Arrears cases and all cases, now and in the period before, per buurt or customer group."""
    column = {"buurt": "buurt_code", "group": "coalesce(household_type, '?') || '/' || coalesce(age_band, '?')"}[dimension]
    arrears = "category = 'financieel.huurachterstand'"
    return await conn.fetch(
        f"""
        SELECT {column} AS scope, min(buurt_code) AS buurt_code,
               count(*) FILTER (WHERE {arrears} AND opened_at >= $1) AS arrears_now,
               {_k(where=f"{arrears} AND opened_at >= $1")} AS arrears_now_key,
               count(*) FILTER (WHERE opened_at >= $1) AS cases_now, {_k(where="opened_at >= $1")} AS cases_now_key,
               count(*) FILTER (WHERE {arrears} AND opened_at < $1) AS arrears_before,
               {_k(where=f"{arrears} AND opened_at < $1")} AS arrears_before_key,
               count(*) FILTER (WHERE opened_at < $1) AS cases_before, {_k(where="opened_at < $1")} AS cases_before_key
        FROM case_facts WHERE opened_at >= $2 GROUP BY 1
        """,
        since, before)


async def record_signal(conn: asyncpg.Connection, key: str, signal_id: UUID, kind: str, scope: str,
                        buurt: str | None, evidence: dict[str, Any], summary: str, start: Any, end: Any,
                        at: datetime, building_ref: str | None = None, owners: list[str] | None = None) -> bool:
    """False when this signal was announced before."""
    return bool(await conn.fetchval(
        "INSERT INTO signals (signal_key, signal_id, kind, scope, buurt_code, evidence, summary, period_start,"
        " period_end, detected_at, building_ref, owners) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT DO NOTHING RETURNING true",
        key, signal_id, kind, scope, buurt, evidence, summary, start, end, at, building_ref, owners or None))


async def signals(conn: asyncpg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT signal_id, kind, scope, buurt_code, evidence, summary, period_start, period_end,"
                            " detected_at, building_ref, owners FROM signals ORDER BY detected_at DESC LIMIT $1",
                            limit)
    return [dict(r) for r in rows]


async def buurt_figures(conn: asyncpg.Connection, category: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""
        WITH c AS (SELECT buurt_code, category, count(*) AS cases_opened, sum(record_key) AS cases_opened_key
                   FROM case_facts WHERE $1::text IS NULL OR category = $1 GROUP BY 1, 2),
        r AS (SELECT c.buurt_code, c.category, count(*) AS referrals, {_k("r.record_key")} AS referrals_key,
                     count(*) FILTER (WHERE r.status = 'accepted') AS referrals_accepted,
                     {_k("r.record_key", "r.status = 'accepted'")} AS referrals_accepted_key,
                     count(*) FILTER (WHERE r.status = 'declined') AS referrals_declined,
                     {_k("r.record_key", "r.status = 'declined'")} AS referrals_declined_key
              FROM referral_facts r JOIN case_facts c USING (case_id)
              WHERE $1::text IS NULL OR c.category = $1 GROUP BY 1, 2)
        SELECT c.*, coalesce(r.referrals, 0) AS referrals, coalesce(r.referrals_key, 0) AS referrals_key,
               coalesce(r.referrals_accepted, 0) AS referrals_accepted,
               coalesce(r.referrals_accepted_key, 0) AS referrals_accepted_key,
               coalesce(r.referrals_declined, 0) AS referrals_declined,
               coalesce(r.referrals_declined_key, 0) AS referrals_declined_key
        FROM c LEFT JOIN r USING (buurt_code, category) ORDER BY c.buurt_code, c.category
        """,
        category)
    return [dict(r) for r in rows]


async def erase_case(conn: asyncpg.Connection, case_id: UUID) -> None:
    """case.erased: every fact of the case; a hotspot forgets its building once no case is left there."""
    for table in ("complaint_facts", "referral_facts", "escalation_facts"):
        await conn.execute(f"DELETE FROM {table} WHERE case_id = $1", case_id)
    ref = await conn.fetchval("DELETE FROM case_facts WHERE case_id = $1 RETURNING building_ref", case_id)
    if ref is not None:
        await conn.execute("UPDATE signals SET building_ref = NULL, owners = NULL WHERE building_ref = $1"
                           " AND NOT EXISTS (SELECT 1 FROM case_facts WHERE building_ref = $1)", ref)


async def reset(conn: asyncpg.Connection) -> None:
    """Empty every read model and the inbox, so a rebuild starts from nothing."""
    await conn.execute("TRUNCATE case_facts, referral_facts, complaint_facts, observation_facts,"
                       " escalation_facts, inbox, parked_event")
