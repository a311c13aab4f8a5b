"""Rebuild every projection from the event log, from the beginning.

Consumption by the service's group is paused, the read models and inbox are emptied, and
a group-less consumer reads the topics from offset 0 up to the end offsets of the moment
the rebuild started, through the same inbox-guarded batch processing as live events. Then
the group resumes from its own committed offsets; whatever the rebuild already applied is
skipped by the inbox, so nothing counts twice.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka.security import parse_security

from runtime.broker import security
from runtime.consumer import EventRouter, Routes
from runtime.service import ServiceRuntime
from services.reporting.adapters import repository

log = logging.getLogger(__name__)


@dataclass
class Progress:
    state: str = "idle"  # idle | running | done | failed
    events: int = 0
    total: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    events_per_second: float | None = None
    error: str | None = None
    _t0: float = field(default=0.0, repr=False)

    def view(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class Rebuild:
    def __init__(self, rt: ServiceRuntime, routers: list[EventRouter]) -> None:
        self.rt = rt
        self.routers = routers
        self.progress = Progress()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """False when a rebuild is already running."""
        if self._task is not None and not self._task.done():
            return False
        self.progress = Progress(state="running", started_at=datetime.now(UTC), _t0=time.perf_counter())
        self._task = asyncio.create_task(self._run(), name="reporting-rebuild")
        return True

    async def _run(self) -> None:
        self.rt.consumer.pause()
        try:
            async with self.rt.unit_of_work() as uow:
                await repository.reset(uow.conn)
            await self._replay()
            p = self.progress
            p.state, p.finished_at = "done", datetime.now(UTC)
            p.events_per_second = round(p.events / max(time.perf_counter() - p._t0, 1e-6), 1)
            log.info("reporting rebuilt from %d events at %.0f events/s", p.events, p.events_per_second)
        except Exception as exc:
            self.progress.state, self.progress.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("rebuild failed")
        finally:
            self.rt.consumer.resume()

    async def _replay(self) -> None:
        s = self.rt.settings
        consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=s.kafka_fetch_max_wait_ms, **parse_security(security(s)))
        await consumer.start()
        try:
            partitions = [TopicPartition(r.topic, p) for r in self.routers if r.topic
                          for p in sorted(consumer.partitions_for_topic(r.topic) or await _partitions(consumer, r.topic))]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            self.progress.total = sum(ends[tp] - starts[tp] for tp in partitions)
            routes = Routes([r for r in self.routers if r.topic])
            remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=s.consumer_max_records)
                for tp, records in batch.items():
                    records = [r for r in records if r.offset < ends[tp]]
                    await self.rt.consumer.process(routes, tuple(records))
                    self.progress.events += len(records)
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001  (no public call refreshes one topic)
    return consumer.partitions_for_topic(topic) or set()
