"""SQL for reporting's read models: projections (idempotent upserts) and figures."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from contracts.events import CaseOpened

# -- projections --------------------------------------------------------------------------


async def add_case(conn: asyncpg.Connection, e: CaseOpened, location: str | None) -> None:
    group = e.customer_group
    await conn.execute(
        "INSERT INTO case_facts (case_id, corporation_id, category, severity, buurt_code, wijk_code, opened_at,"
        " professional, household_type, age_band, location_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        e.case_id, e.corporation_id, e.category, e.severity.value, e.buurt_code, e.wijk_code, e.opened_at,
        e.handling_professional, group.household_type if group else None, group.age_band if group else None,
        location)


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
                        repeat_count: int, received_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO complaint_facts (complaint_id, case_id, category, buurt_code, repeat_count, received_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        complaint_id, case_id, category, buurt, repeat_count, received_at)


async def add_observation(conn: asyncpg.Connection, observation_id: UUID, category: str, buurt: str, wijk: str,
                          recorded_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO observation_facts (observation_id, category, buurt_code, wijk_code, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        observation_id, category, buurt, wijk, recorded_at)


async def record_referral(conn: asyncpg.Connection, *, referral_id: UUID, case_id: UUID, partner_id: str,
                          status: str, partner_type: str | None = None, requested_at: datetime | None = None,
                          responded_at: datetime | None = None, respond_by: datetime | None = None,
                          breach: bool = False) -> None:
    """Referral and partner events come on different topics: merge whatever arrives first."""
    await conn.execute(
        """
        INSERT INTO referral_facts AS f (referral_id, case_id, partner_id, partner_type, status, requested_at,
                                         responded_at, respond_by, response_breach)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (referral_id) DO UPDATE SET
            partner_type = COALESCE(f.partner_type, EXCLUDED.partner_type),
            requested_at = COALESCE(f.requested_at, EXCLUDED.requested_at),
            respond_by = COALESCE(f.respond_by, EXCLUDED.respond_by),
            responded_at = COALESCE(f.responded_at, EXCLUDED.responded_at),
            response_breach = f.response_breach OR EXCLUDED.response_breach,
            status = CASE WHEN EXCLUDED.status IN ('requested', 'expired') THEN f.status ELSE EXCLUDED.status END
        """,
        referral_id, case_id, partner_id, partner_type, status, requested_at, responded_at, respond_by, breach)


async def add_escalation(conn: asyncpg.Connection, escalation_id: UUID, case_id: UUID, level: str,
                         raised_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO escalation_facts (escalation_id, case_id, level, raised_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING", escalation_id, case_id, level, raised_at)


async def resolve_escalation(conn: asyncpg.Connection, escalation_id: UUID, resolved_at: datetime) -> bool:
    return _updated(await conn.execute("UPDATE escalation_facts SET resolved_at = $2 WHERE escalation_id = $1",
                                       escalation_id, resolved_at))


# -- figures ------------------------------------------------------------------------------

_CASE_FILTER = """($1::text IS NULL OR c.wijk_code = $1) AND ($2::text IS NULL OR c.category = $2)
                  AND ($3::text IS NULL OR c.buurt_code = $3)"""


async def case_figures(conn: asyncpg.Connection, wijk: str | None, category: str | None,
                       buurt: str | None) -> list[dict[str, Any]]:
    """Per buurt, category and month: new, open, closed, time to resolve, breaches, escalations."""
    rows = await conn.fetch(
        f"""
        WITH c AS (SELECT c.*, to_char(date_trunc('month', c.opened_at), 'YYYY-MM') AS month
                   FROM case_facts c WHERE {_CASE_FILTER}),
        breaches AS (SELECT case_id, count(*) AS n FROM referral_facts WHERE response_breach GROUP BY case_id),
        escalations AS (
            SELECT buurt_code, category, month, jsonb_object_agg(level, n) AS by_level FROM (
                SELECT c.buurt_code, c.category, c.month, e.level, count(*) AS n
                FROM escalation_facts e JOIN c USING (case_id) GROUP BY 1, 2, 3, 4) l
            GROUP BY 1, 2, 3),
        g AS (
            SELECT c.buurt_code, c.wijk_code, c.category, c.month,
                   count(*) AS new, count(*) FILTER (WHERE c.status = 'open') AS open,
                   count(*) FILTER (WHERE c.status = 'closed') AS closed,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.opened_at) / 86400)
                       FILTER (WHERE c.status = 'closed') AS median_days_to_resolve,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM c.closed_at - c.opened_at) / 86400)
                       FILTER (WHERE c.status = 'closed') AS p90_days_to_resolve,
                   coalesce(sum(b.n), 0) AS response_breaches
            FROM c LEFT JOIN breaches b USING (case_id)
            GROUP BY c.buurt_code, c.wijk_code, c.category, c.month)
        SELECT g.*, coalesce(e.by_level, '{{}}'::jsonb) AS escalations
        FROM g LEFT JOIN escalations e USING (buurt_code, category, month)
        ORDER BY g.month DESC, g.buurt_code, g.category
        """,
        wijk, category, buurt)
    return [dict(r) for r in rows]


async def partner_figures(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT partner_id, partner_type, to_char(date_trunc('month', requested_at), 'YYYY-MM') AS month,
               count(*) AS referrals, count(*) FILTER (WHERE status = 'accepted') AS accepted,
               count(*) FILTER (WHERE status = 'declined') AS declined,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE response_breach) AS response_breaches,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM responded_at - requested_at) / 3600)
                   FILTER (WHERE responded_at IS NOT NULL) AS median_hours_to_respond
        FROM referral_facts WHERE requested_at IS NOT NULL
        GROUP BY partner_id, partner_type, date_trunc('month', requested_at) ORDER BY month DESC, partner_id
        """)
    return [dict(r) for r in rows]


async def time_of_day(conn: asyncpg.Connection, wijk: str | None, category: str | None) -> list[dict[str, Any]]:
    """Complaints and observations by weekday (1 = Monday) and hour, Dutch local time."""
    rows = await conn.fetch(
        """
        WITH events AS (
            SELECT cf.received_at AS at, 'complaint' AS kind FROM complaint_facts cf
              JOIN case_facts c ON c.case_id = cf.case_id
             WHERE ($1::text IS NULL OR c.wijk_code = $1) AND ($2::text IS NULL OR cf.category = $2)
            UNION ALL
            SELECT o.recorded_at, 'observation' FROM observation_facts o
             WHERE ($1::text IS NULL OR o.wijk_code = $1) AND ($2::text IS NULL OR o.category = $2))
        SELECT extract(isodow FROM at AT TIME ZONE 'Europe/Amsterdam')::int AS weekday,
               extract(hour FROM at AT TIME ZONE 'Europe/Amsterdam')::int AS hour, kind, count(*) AS count
        FROM events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        wijk, category)
    return [dict(r) for r in rows]


async def caseload(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT coalesce(professional, '(onbekend)') AS professional, count(*) FILTER (WHERE status = 'open') AS open,"
        " count(*) FILTER (WHERE status = 'closed') AS closed FROM case_facts GROUP BY 1 ORDER BY 2 DESC, 1")
    return [dict(r) for r in rows]


async def spend(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT corporation_id, coalesce(sum(liveability_cost_eur), 0) AS spend_eur, count(*) FILTER"
        " (WHERE liveability_cost_eur IS NOT NULL) AS closed_with_cost FROM case_facts GROUP BY corporation_id")
    return [dict(r) for r in rows]


async def overlast_per_buurt_month(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT buurt_code, to_char(date_trunc('month', opened_at), 'YYYY-MM') AS month, count(*) AS cases"
        " FROM case_facts WHERE category LIKE 'overlast.%' GROUP BY 1, 2 ORDER BY 1, 2")
    return [dict(r) for r in rows]


# -- what the signal detection reads ------------------------------------------------------

async def repeat_locations(conn: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT c.location_key, min(c.buurt_code) AS buurt_code, count(*) AS complaints,"
        " count(DISTINCT split_part(cf.category, '.', 1)) AS families"
        " FROM complaint_facts cf JOIN case_facts c ON c.case_id = cf.case_id"
        " WHERE cf.received_at >= $1 AND c.location_key IS NOT NULL GROUP BY c.location_key", since)


async def resolve_times(conn: asyncpg.Connection, since: datetime, usual_since: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        WITH closed AS (SELECT buurt_code, category, closed_at,
                               extract(epoch FROM closed_at - opened_at) / 86400 AS days
                        FROM case_facts WHERE status = 'closed' AND closed_at >= $2),
        usual AS (SELECT category, percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median, count(*) AS n
                  FROM closed GROUP BY category)
        SELECT b.buurt_code, b.category, percentile_cont(0.5) WITHIN GROUP (ORDER BY b.days) AS median,
               count(*) AS n, u.median AS usual_median, u.n AS usual_n
        FROM closed b JOIN usual u USING (category) WHERE b.closed_at >= $1
        GROUP BY b.buurt_code, b.category, u.median, u.n
        """,
        since, usual_since)


async def neglect_and_complaints(conn: asyncpg.Connection, since: datetime, before: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        WITH b AS (SELECT DISTINCT buurt_code FROM observation_facts WHERE recorded_at >= $2)
        SELECT b.buurt_code,
          (SELECT count(*) FROM observation_facts o WHERE o.buurt_code = b.buurt_code
             AND o.category LIKE 'leefbaarheid.%' AND o.recorded_at >= $1) AS observations_now,
          (SELECT count(*) FROM observation_facts o WHERE o.buurt_code = b.buurt_code
             AND o.category LIKE 'leefbaarheid.%' AND o.recorded_at >= $2 AND o.recorded_at < $1) AS observations_before,
          (SELECT count(*) FROM complaint_facts c WHERE c.buurt_code = b.buurt_code AND c.received_at >= $1) AS complaints_now,
          (SELECT count(*) FROM complaint_facts c WHERE c.buurt_code = b.buurt_code
             AND c.received_at >= $2 AND c.received_at < $1) AS complaints_before
        FROM b
        """,
        since, before)


async def arrears_shares(conn: asyncpg.Connection, since: datetime, before: datetime,
                         dimension: str) -> list[asyncpg.Record]:
    """Arrears cases and all cases, now and in the period before, per buurt or customer group."""
    column = {"buurt": "buurt_code", "group": "coalesce(household_type, '?') || '/' || coalesce(age_band, '?')"}[dimension]
    return await conn.fetch(
        f"""
        SELECT {column} AS scope, min(buurt_code) AS buurt_code,
               count(*) FILTER (WHERE category = 'financieel.huurachterstand' AND opened_at >= $1) AS arrears_now,
               count(*) FILTER (WHERE opened_at >= $1) AS cases_now,
               count(*) FILTER (WHERE category = 'financieel.huurachterstand' AND opened_at < $1) AS arrears_before,
               count(*) FILTER (WHERE opened_at < $1) AS cases_before
        FROM case_facts WHERE opened_at >= $2 GROUP BY 1
        """,
        since, before)


async def record_signal(conn: asyncpg.Connection, key: str, signal_id: UUID, kind: str, scope: str,
                        buurt: str | None, evidence: dict[str, Any], summary: str, start: Any, end: Any,
                        at: datetime) -> bool:
    """False when this signal was announced before."""
    return bool(await conn.fetchval(
        "INSERT INTO signals (signal_key, signal_id, kind, scope, buurt_code, evidence, summary, period_start,"
        " period_end, detected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT DO NOTHING RETURNING true",
        key, signal_id, kind, scope, buurt, evidence, summary, start, end, at))


async def signals(conn: asyncpg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT signal_id, kind, scope, buurt_code, evidence, summary, period_start, period_end,"
                            " detected_at FROM signals ORDER BY detected_at DESC LIMIT $1", limit)
    return [dict(r) for r in rows]


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


async def reset(conn: asyncpg.Connection) -> None:
    """Empty every read model and the inbox, so a rebuild starts from nothing."""
    await conn.execute("TRUNCATE case_facts, referral_facts, complaint_facts, observation_facts,"
                       " escalation_facts, inbox, parked_event")
