"""ServiceRuntime: what a service process runs besides its own code.

Start order: migrations → pool → topics → broker with the service's routers → relay.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation

from contracts.topics import Topics
from runtime import db
from runtime.auth import Auth
from runtime.broker import create_broker, ensure_topics
from runtime.consumer import Consumer, EventRouter
from runtime.health import ConsumerMonitor
from runtime.keyring import KeyRing
from runtime.outbox import OutboxRelay
from runtime.recovery import BrokerWatch
from runtime.retention import retention_job
from runtime.sealing import KeyStore
from runtime.settings import ServiceSettings
from runtime.telemetry import setup_tracing
from runtime.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, migrations: Path, routers: list[EventRouter], *,
                 topics: list[str] = (), on_start: list[Callable[["ServiceRuntime"], Awaitable[None]]] = (),
                 background: list[Callable[["ServiceRuntime"], Awaitable[None]]] = ()) -> None:
        """`on_start` hooks run once after start-up; `background` jobs (timers, delivery
        loops, retention) run for the life of the process and are restarted if they fail."""
        self.settings = settings
        self.auth = Auth(settings)
        self.topics = [*Topics.shared(), *topics]
        self.on_start = list(on_start)
        self.background = list(background)
        self.migrations = migrations
        self.routers = routers
        self.broker = create_broker(settings)
        self.keys = KeyStore(settings.service_name, settings.data_key_kek)
        self.keyring = KeyRing(settings)
        self.consumer = Consumer(settings, lambda: self.pool, self.keys, self.keyring)
        self.monitor = ConsumerMonitor(self)
        self.relay = OutboxRelay(settings.database_url, self._publish, settings.outbox_batch_size,
                                 ensure_topics=lambda names: ensure_topics(settings, names))
        self.broker_watch = BrokerWatch(self)
        self._pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.tracer_provider = setup_tracing(settings)
        self.consumer.attach(self.broker, routers)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("service not started")
        return self._pool

    async def start(self) -> None:
        s = self.settings
        if problems := s.startup_problems():
            raise RuntimeError(f"{s.service_name} refuses to start: " + "; ".join(problems))
        await db.migrate(s.database_url, self.migrations)
        self._pool = await db.create_pool(s.database_url, s.database_pool_size)
        await ensure_topics(s, self.topics)
        self.relay.topics_ok.update(self.topics)
        if await self.broker_watch.at_start():  # a broker that lost what this service published
            self.consumer.rewind()
        await self.broker.start()
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self._tasks.append(asyncio.create_task(self._supervise(_sweep_parked), name="parked-events"))
        self._tasks.append(asyncio.create_task(self._supervise(_watch_consumers), name="consumer-health"))
        self._tasks.append(asyncio.create_task(self._supervise(_watch_broker), name="broker-watch"))
        self._tasks.append(asyncio.create_task(self._supervise(retention_job), name="retention"))
        for hook in self.on_start:
            await hook(self)
        for job in self.background:
            self._tasks.append(asyncio.create_task(self._supervise(job), name=getattr(job, "__name__", "job")))
        log.info("%s started", s.service_name)

    async def _supervise(self, job: Callable[["ServiceRuntime"], Awaitable[None]]) -> None:
        delay = 1.0
        while True:
            try:
                await job(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed; restarting in %.0f s", getattr(job, "__name__", job), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.broker.stop()
        await self.keyring.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.tracer_provider.shutdown()

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with self.pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn, self.settings.source, self.keys)
            yield uow
            await uow.flush()

    async def ready(self) -> dict[str, bool]:
        checks = {"database": False, "broker": False, "consumer": self.monitor.healthy()}
        with contextlib.suppress(Exception), suppress_instrumentation():
            checks["database"] = await self.pool.fetchval("SELECT true")
        with contextlib.suppress(Exception):
            checks["broker"] = await self.broker.ping(timeout=2.0)
        return checks

    async def _publish(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]) -> Any:
        # no_confirm: returns the delivery future, so the relay can pipeline a batch.
        return await self.broker.publish(value, topic, key=key, headers=headers, no_confirm=True)


async def _sweep_parked(rt: ServiceRuntime) -> None:
    """Retry parked events now and then; dead-letter those that waited too long."""
    while True:
        await asyncio.sleep(rt.settings.consumer_park_retry_s)
        if rt.consumer.paused:
            continue  # an operator (or reporting's rebuild) holds consumption
        with suppress_instrumentation():  # an idle poll is no case's trace
            waiting = await rt.pool.fetchval("SELECT EXISTS (SELECT 1 FROM parked_event)")
        if waiting:
            await rt.consumer.sweep_parked()


async def _watch_consumers(rt: ServiceRuntime) -> None:
    """The health monitor, and the first remedy for a stall: new Kafka consumers (aiokafka
    can stay stuck after a broker restart). At most once per stall period."""
    monitor = asyncio.create_task(rt.monitor.run(), name="consumer-monitor")
    try:
        last_restart = 0.0
        while True:
            await asyncio.sleep(rt.settings.consumer_health_interval_s)
            period = rt.settings.consumer_stall_after_s
            if not rt.monitor.healthy() and time.monotonic() - last_restart >= period:
                log.warning("consumer stalled for %.0f s: restarting the Kafka consumers", rt.monitor.stalled_for())
                last_restart = time.monotonic()
                await rt.consumer.restart()
    finally:
        monitor.cancel()


async def _watch_broker(rt: ServiceRuntime) -> None:
    await rt.broker_watch.run()
