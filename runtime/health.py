"""Consumer health that tells the truth: lag from the broker, and a stall noticed.

Every `consumer_health_interval_s` the monitor asks the broker, with its own clients (not
the consumer's, which may be the thing that is stuck), for the high watermark of every
partition the service reads and for each consumer group's committed offset:
lag = high watermark − committed offset (− log start when the group has none yet). The lag
the service's own consumer reports about itself (its fetch position) reads 0 when that
consumer stopped fetching, which is how a stall once hid behind a zero lag.

A group is *stalled* when the broker has records it has not committed while its consumer
made no progress (no batch processed, no committed offset moved) for
`consumer_stall_after_s`, and nobody paused it. Then /readyz says so (503) and the runtime
restarts its consumers (runtime.service); if that does not help within three times that
period, /healthz fails too, so an orchestrator restarts the process.
"""

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka.security import parse_security

from runtime.broker import security

if TYPE_CHECKING:
    from runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


@dataclass
class GroupHealth:
    group_id: str
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    progress_at: float = field(default_factory=time.monotonic)
    stalled_since: float | None = None

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


@dataclass
class Snapshot:
    groups: list[GroupHealth]
    checked_at: float | None  # monotonic; None before the first successful check
    error: str | None = None


class ConsumerMonitor:
    def __init__(self, rt: "ServiceRuntime") -> None:
        self._rt = rt
        self._groups: dict[str, GroupHealth] = {}
        self._batches = -1
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self.checked_at: float | None = None
        self.error: str | None = None

    def snapshot(self) -> Snapshot:
        return Snapshot(list(self._groups.values()), self.checked_at, self.error)

    def stalled_for(self) -> float:
        """Seconds the longest-stalled group has been stalled (0 when none is)."""
        now = time.monotonic()
        return max((now - g.stalled_since for g in self._groups.values() if g.stalled_since is not None), default=0.0)

    def report(self) -> dict[str, Any]:
        s = self._rt.settings
        stalled = self.stalled_for()
        return {
            "lag": sum(g.total_lag for g in self._groups.values()),
            "groups": {g.group_id: g.total_lag for g in self._groups.values()},
            "stalled_for_s": round(stalled, 1),
            "stalled": stalled >= s.consumer_stall_after_s,
            "checked_s_ago": None if self.checked_at is None else round(time.monotonic() - self.checked_at, 1),
            "error": self.error,
        }

    def healthy(self) -> bool:
        return self.stalled_for() < self._rt.settings.consumer_stall_after_s

    def alive(self) -> bool:
        return self.stalled_for() < 3 * self._rt.settings.consumer_stall_after_s

    async def run(self) -> None:
        try:
            while True:
                try:
                    await asyncio.wait_for(self.check(), timeout=max(10.0, self._rt.settings.consumer_health_interval_s))
                    self.error = None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the broker is away: say so, and reconnect next time
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("consumer health check failed: %s", self.error)
                    await self._close()
                await asyncio.sleep(self._rt.settings.consumer_health_interval_s)
        finally:
            await self._close()

    async def check(self) -> None:
        admin, offsets = await self._clients()
        consumer = self._rt.consumer
        topics = set(await admin.list_topics())
        batches = consumer.batches
        progressed = batches != self._batches
        self._batches = batches
        now = time.monotonic()
        for group_id, names, pattern in consumer.groups():
            wanted = sorted(t for t in topics if (pattern and re.fullmatch(pattern, t)) or t in names)
            partitions = [TopicPartition(t, p) for t in wanted for p in sorted(await _partitions(offsets, t))]
            health = self._groups.setdefault(group_id, GroupHealth(group_id))
            if not partitions:
                health.lag, health.stalled_since = {}, None
                continue
            ends = await offsets.end_offsets(partitions)
            starts = await offsets.beginning_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
            lag, positions = {}, {}
            for tp in partitions:
                meta = committed.get(tp)
                position = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
                positions[(tp.topic, tp.partition)] = position
                lag[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
            moved = any(positions[k] > health.committed.get(k, -1) for k in positions) and bool(health.committed)
            health.lag, health.committed = lag, positions
            if progressed or moved or not health.total_lag or consumer.paused:
                health.progress_at, health.stalled_since = now, None
            elif health.stalled_since is None:
                health.stalled_since = health.progress_at
        self.checked_at = now
        stalled = self.stalled_for()
        if stalled >= self._rt.settings.consumer_stall_after_s:
            log.warning("consumer stalled for %.0f s with %d records waiting on the broker", stalled,
                        sum(g.total_lag for g in self._groups.values()))

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        s = self._rt.settings
        sec = parse_security(security(s))
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id=f"{s.service_name}-health",
                                        **sec)
            await admin.start()
            self._admin = admin
        if self._offsets is None:
            offsets = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                                       client_id=f"{s.service_name}-health", **sec)
            await offsets.start()
            self._offsets = offsets
        return self._admin, self._offsets

    async def _close(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        for client in (admin, offsets):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close() if isinstance(client, AIOKafkaAdminClient) else await client.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    known = consumer.partitions_for_topic(topic)
    if not known:
        await consumer._client.force_metadata_update()  # noqa: SLF001  (no public call refreshes one topic)
        known = consumer.partitions_for_topic(topic)
    return known or set()
