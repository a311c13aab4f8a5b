"""Retention of the runtime's tables on real PostgreSQL (a database of its own, with the
runtime's migrations): published outbox rows past the refill window move to the archive,
unpublished rows never do, the archive and the inbox expire after their own periods."""

import asyncio
from datetime import timedelta

import psycopg

from runtime import db
from runtime.retention import apply_retention
from runtime.settings import ServiceSettings


def test_retention_archives_published_rows_keeps_unpublished_ones_and_expires_inbox_ids(stack, tmp_path):
    with psycopg.connect(stack.postgres.dsn("postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS retention_check")
        conn.execute("CREATE DATABASE retention_check")
    url = stack.postgres.dsn("retention_check")
    settings = ServiceSettings(database_url=url, outbox_retention_days=30, outbox_archive_days=395,
                               inbox_retention_days=45)

    async def run() -> dict:
        await db.migrate(url, tmp_path)  # the runtime's tables only
        pool = await db.create_pool(url, 2)
        try:
            async with pool.acquire() as conn:
                rows = [("samenwijk.cases", b"k", b"{}", {}, timedelta(days=age), published)
                        for age, published in ((1, True), (31, True), (31, False), (400, True))]
                await conn.executemany(
                    "INSERT INTO outbox (topic, key, value, headers, created_at, published_at)"
                    " VALUES ($1, $2, $3, $4, now() - $5::interval, CASE WHEN $6 THEN now() END)", rows)
                await conn.execute("INSERT INTO outbox_archive (id, topic, key, value, created_at, published_at)"
                                   " VALUES (100000, 't', NULL, 'x', now() - interval '396 days', now())")
                await conn.executemany("INSERT INTO inbox (event_id, event_type, handled_at)"
                                       " VALUES ($1, 't', now() - $2::interval)",
                                       [("recent", timedelta(days=44)), ("old", timedelta(days=46))])
            first = await apply_retention(pool, settings, batch=1)  # batches of one: the loop goes round
            again = await apply_retention(pool, settings)
            async with pool.acquire() as conn:
                outbox = await conn.fetch("SELECT extract(day FROM now() - created_at)::int AS age,"
                                          " published_at IS NOT NULL AS published FROM outbox ORDER BY id")
                archive = await conn.fetch("SELECT id, extract(day FROM now() - created_at)::int AS age"
                                           " FROM outbox_archive ORDER BY id")
                inbox = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")]
            return {"first": first, "again": again, "outbox": [tuple(r) for r in outbox],
                    "archive": [r["age"] for r in archive], "inbox": inbox}
        finally:
            await pool.close()

    result = asyncio.run(run())
    assert result["outbox"] == [(1, True), (31, False)]  # the unpublished row stays, however old
    assert result["archive"] == [31]  # the 400-day row was archived and expired; so was the old archive row
    assert result["inbox"] == ["recent"]
    assert result["first"] == {"outbox": 2, "outbox_archive": 2, "inbox": 1}
    assert result["again"] == {"outbox": 0, "outbox_archive": 0, "inbox": 0}
