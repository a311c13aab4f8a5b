"""Transactional outbox (writer) and its relay (publisher).

A state change and the events it causes commit in one transaction. The relay publishes
unpublished rows in id order — so in order per case — and continues the trace of the
transaction that wrote each row. One relay per database publishes at a time (advisory
lock), so several instances of a service never reorder a case's events.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import suppress_instrumentation

from runtime import metrics
from runtime.db import init_connection
from runtime.telemetry import context_from_headers

log = logging.getLogger(__name__)

RELAY_LOCK_ID = 0x5A4D_0001  # pg advisory lock key: one relay per service database
# Held around each batch (select, publish, mark): a refill after a broker loss
# (runtime.recovery) waits for the batch in flight and holds the next one until it has
# put the old rows back, so no new row goes out before them.
RELAY_BATCH_LOCK_ID = 0x5A4D_0002


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]


async def add_records(conn: asyncpg.Connection, records: Iterable[OutgoingRecord]) -> None:
    rows = [(r.topic, r.key, r.value, r.headers) for r in records]
    if rows:
        await conn.executemany(
            "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, $3, $4)", rows
        )


# publish(topic, key, value, headers) -> awaitable that resolves when the broker has it.
Publish = Callable[[str, bytes | None, bytes, dict[str, str]], Awaitable[Awaitable[Any]]]


# ensure(topics) -> awaitable: the topics exist on the broker (created if need be).
EnsureTopics = Callable[[list[str]], Awaitable[None]]


class OutboxRelay:
    def __init__(self, database_url: str, publish: Publish, batch_size: int = 500,
                 ensure_topics: EnsureTopics | None = None) -> None:
        self._database_url = database_url
        self._publish = publish
        self._batch_size = batch_size
        self._ensure_topics = ensure_topics
        # Topics known to exist on this broker. A broker that lost its topics acknowledges
        # records for them and drops them (Tansu), so each is made sure of once per epoch.
        self.topics_ok: set[str] = set()
        self._wake = asyncio.Event()
        self.published = 0
        self.is_leader = False
        self.paused = False  # ops: hold publishing (rows stay in the outbox, nothing is lost)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker or database gone: back off, then take over again
                log.exception("outbox relay failed; restarting in 1 s")
                self.is_leader = False
                await asyncio.sleep(1)

    async def _run_once(self) -> None:
        with suppress_instrumentation():
            conn = await asyncpg.connect(self._database_url)
            await init_connection(conn)
        try:
            while not await _untraced(conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_ID)):
                await asyncio.sleep(2)  # another instance relays; stand by
            self.is_leader = True
            with suppress_instrumentation():
                await conn.add_listener("outbox", lambda *_: self._wake.set())
            while True:
                self._wake.clear()
                if self.paused or not await self._relay_batch(conn):
                    try:  # the poll is a fallback; NOTIFY wakes us at once
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                    except TimeoutError:
                        pass
        finally:
            await conn.close()

    async def _relay_batch(self, conn: asyncpg.Connection) -> int:
        await _untraced(conn.execute("SELECT pg_advisory_lock($1)", RELAY_BATCH_LOCK_ID))
        try:
            return await self._publish_batch(conn)
        finally:
            await _untraced(conn.execute("SELECT pg_advisory_unlock($1)", RELAY_BATCH_LOCK_ID))

    async def _publish_batch(self, conn: asyncpg.Connection) -> int:
        with suppress_instrumentation():  # polling is not part of any case's trace
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self._batch_size,
            )
        if not rows:
            return 0
        new_topics = sorted({row["topic"] for row in rows} - self.topics_ok)
        if new_topics and self._ensure_topics is not None:
            await self._ensure_topics(new_topics)
        self.topics_ok.update(new_topics)
        pending = []
        for row in rows:
            token = otel_context.attach(context_from_headers(row["headers"]))
            try:
                pending.append(await self._publish(row["topic"], row["key"], row["value"], row["headers"]))
            finally:
                otel_context.detach(token)
        await asyncio.gather(*pending)
        with suppress_instrumentation():
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        self.published += len(rows)
        metrics.OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)


async def _untraced(awaitable: Awaitable[Any]) -> Any:
    with suppress_instrumentation():
        return await awaitable
