"""Retention of the runtime's tables, so refill stays possible without growing forever.

- `outbox`: published rows are the service's event log, from which a lost broker is
  refilled (runtime.recovery). They stay `outbox_retention_days`; older published rows move
  to `outbox_archive` (never an unpublished one), kept `outbox_archive_days` for replays by
  hand (docs/operations.md), then deleted.
- `inbox`: a handled event id must be remembered as long as that event can come again — a
  refill (the producers' outbox window) or a consumer re-reading a topic (its retention) —
  so `inbox_retention_days` must be at least both; then the id goes.

Every instance runs it every `retention_interval_s`, in batches, each in its own short
transaction.
"""

import asyncio
import logging
from typing import TYPE_CHECKING

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation

from runtime import metrics
from runtime.settings import ServiceSettings

if TYPE_CHECKING:
    from runtime.service import ServiceRuntime

log = logging.getLogger(__name__)
DAY = 86_400.0

ARCHIVE = """
WITH moved AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox WHERE published_at IS NOT NULL AND created_at < now() - make_interval(secs => $1)
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING id, topic, key, value, headers, created_at, published_at),
archived AS (INSERT INTO outbox_archive SELECT * FROM moved ON CONFLICT (id) DO NOTHING RETURNING 1)
SELECT count(*) FROM moved
"""
EXPIRE_ARCHIVE = """
WITH gone AS (DELETE FROM outbox_archive WHERE id IN (
    SELECT id FROM outbox_archive WHERE created_at < now() - make_interval(secs => $1) LIMIT $2) RETURNING 1)
SELECT count(*) FROM gone
"""
EXPIRE_INBOX = """
WITH gone AS (DELETE FROM inbox WHERE event_id IN (
    SELECT event_id FROM inbox WHERE handled_at < now() - make_interval(secs => $1) LIMIT $2) RETURNING 1)
SELECT count(*) FROM gone
"""


async def apply_retention(pool: asyncpg.Pool, settings: ServiceSettings, batch: int = 5000) -> dict[str, int]:
    """One pass; returns how many rows each step moved or removed."""
    steps = {
        "outbox": (ARCHIVE, settings.outbox_retention_days * DAY),
        "outbox_archive": (EXPIRE_ARCHIVE, settings.outbox_archive_days * DAY),
        "inbox": (EXPIRE_INBOX, settings.inbox_retention_days * DAY),
    }
    done: dict[str, int] = {}
    for table, (sql, older_than_s) in steps.items():
        total = 0
        while True:
            async with pool.acquire() as conn, conn.transaction():
                n = await conn.fetchval(sql, older_than_s, batch)
            total += n
            if n < batch:
                break
        done[table] = total
        if total:
            metrics.RETENTION_REMOVED.labels(table).inc(total)
    if any(done.values()):
        log.info("retention: %d outbox rows archived, %d archived rows and %d inbox ids removed",
                 done["outbox"], done["outbox_archive"], done["inbox"])
    return done


async def retention_job(rt: "ServiceRuntime") -> None:
    while True:
        with suppress_instrumentation():  # housekeeping is no case's trace
            await apply_retention(rt.pool, rt.settings)
        await asyncio.sleep(rt.settings.retention_interval_s)
