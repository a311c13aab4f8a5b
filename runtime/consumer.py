"""Inbox-guarded batch consumers with a dead-letter topic.

One `EventRouter` per event family (topic) maps CloudEvents types to plain handler
functions typed by their pydantic event model. `Consumer` subscribes a service's topic
routers with ONE faststream batch subscriber (one consumer-group member and one fetch loop
per process, whatever the number of topics; a pattern router gets its own) and, per batch:

1. parses every record; a malformed one is set aside as a dead letter;
2. in ONE transaction claims the event ids in the inbox and runs the handlers for the
   ids it could claim (a redelivered event is skipped: exactly-once effect);
3. if that transaction fails, redoes the batch record by record with retries, so one
   poison record cannot hold up the rest; a record that keeps failing is dead-lettered;
4. returns, and only then faststream commits the offsets (AckPolicy.NACK_ON_ERROR:
   commit after processing; on an error that escapes — the database is down — it seeks
   back and the batch comes again).

Early events. A handler that meets an event about an entity it does not know yet (a
complaint before its case: another topic, or a refill that republished older rows after
newer ones) raises `NotYetKnown(kind, id)`. Each handler runs in a savepoint, so what it
did is undone; the event's inbox claim is withdrawn and the record is *parked* in
`parked_event` in the same transaction, and the offset moves on (the parked row is the
durable copy). The handler that creates the entity calls `uow.now_known(kind, id)`; in that
same transaction the parked events of that key are applied in their producer's order
(CloudEvents `time`). A sweeper retries what is still parked (an entity may become known
another way) and dead-letters what waited longer than `consumer_park_max_age_s`.
Why parking and not a retry loop on the partition: a retry would hold up every other
case on that partition behind one early event, and a crash would lose its place; a
parked row blocks nobody and survives restarts.
"""

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from aiokafka import ConsumerRebalanceListener, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError

from contracts.envelope import CONTENT_TYPE, CloudEvent, Event
from contracts.events import EVENTS, CaseErased
from contracts.personal import KeyId, Sealed
from contracts.topics import Topics
from runtime import metrics
from runtime.keyring import KeyRing, KeysUnavailable
from runtime.outbox import OutgoingRecord
from runtime.sealing import CannotOpen, KeyStore, open_data
from runtime.settings import ServiceSettings
from runtime.telemetry import context_from_headers, decode_kafka_headers
from runtime.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
tracer = trace.get_tracer("samenwijk.consumer")

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class EventMeta:
    """Envelope and Kafka coordinates of the event being handled."""

    event_id: UUID
    type: str
    source: str
    topic: str
    partition: int
    offset: int
    envelope: CloudEvent[dict[str, Any]]
    # The event's personal fields: "clear" (it had none sealed), "opened" (unsealed with its
    # key), "erased" (the key is gone: the case was erased; handle what is left), or
    # "withheld" (this service is no reader of them; they are absent).
    personal: str = "clear"


Handler = Callable[[Any, EventMeta, UnitOfWork], Awaitable[None]]


class EventRouter:
    """The handlers of one service for the event types on one topic (or topic pattern)."""

    def __init__(self, topic: str | None = None, *, pattern: str | None = None,
                 registry: dict[str, type[Event]] = EVENTS) -> None:
        if (topic is None) == (pattern is None):
            raise ValueError("give a topic or a pattern")
        self.topic = topic
        self.pattern = pattern
        self.registry = registry
        self.handlers: dict[str, Handler] = {}
        self._models: dict[str, type[Event]] = {}

    def on(self, model: type[E]) -> Callable[[Callable[[E, EventMeta, UnitOfWork], Awaitable[None]]], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[model.type_name()] = fn
            self._models[model.type_name()] = self.registry[model.type_name()]
            return fn

        return register

    def handled_models(self) -> dict[str, type[Event]]:
        return self._models

    @property
    def name(self) -> str:
        return self.topic or self.pattern or ""

    def for_topic(self, topic: str) -> "EventRouter | None":
        if self.topic is not None:
            return self if topic == self.topic else None
        return self if re.fullmatch(self.pattern or "", topic) else None


class Routes:
    """Several topic routers behind one subscriber: a record goes to its topic's router."""

    def __init__(self, routers: list[EventRouter]) -> None:
        self.by_topic = {r.topic: r for r in routers}

    def for_topic(self, topic: str) -> EventRouter | None:
        return self.by_topic.get(topic)


class Rejected(Exception):
    """The event or command is valid but cannot be applied (e.g. an illegal transition):
    dead-letter it at once with this reason, no retries."""


class NotYetKnown(Exception):
    """The event is about an entity this service has not seen yet: park it (see the module
    docstring). Raise it before writing anything you would not want kept; the consumer
    rolls the handler back to a savepoint anyway."""

    def __init__(self, kind: str, ident: object, what: str = "") -> None:
        self.key = park_key(kind, ident)
        super().__init__(what or f"{self.key} is not known yet")


def park_key(kind: str, ident: object) -> str:
    return f"{kind}:{ident}"


class TransientError(Exception):
    """Infrastructure is unavailable: retry the whole batch later, never dead-letter."""


TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,  # PostgreSQL stopping or restarting
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    TransientError,
    KeysUnavailable,
)


@dataclass
class _Item:
    router: EventRouter
    record: ConsumerRecord
    envelope: CloudEvent[dict[str, Any]]
    event: Event
    headers: dict[str, str]
    personal: str = "clear"

    def meta(self) -> EventMeta:
        r = self.record
        return EventMeta(self.envelope.id, self.envelope.type, self.envelope.source,
                         r.topic, r.partition, r.offset, self.envelope, self.personal)


@dataclass
class _DeadLetter:
    record: Any  # a ConsumerRecord, or a parked row's coordinates (_Coordinates)
    reason: str
    event_id: str | None = None


@dataclass(frozen=True)
class _Coordinates:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class Consumer:
    def __init__(self, settings: ServiceSettings, pool_getter: Callable[[], asyncpg.Pool],
                 keys: KeyStore | None = None, keyring: KeyRing | None = None) -> None:
        self._settings = settings
        self._pool = pool_getter
        self._keys = keys  # this service's own data keys (for what it publishes)
        self._keyring = keyring  # other services' data keys (for what it may read)
        self._subscribers: list[Any] = []
        self._routes: list[EventRouter | Routes] = []  # to decode parked records again
        self._groups: list[tuple[str, list[str], str | None]] = []
        self._rewound: dict[str, set[Any]] = {}  # group -> partitions read again since rewind()
        self.paused = False
        self.dead_letters = 0
        self.handled = 0
        self.batches = 0  # fetch progress, for the stall check (runtime.health)
        self.restarts = 0
        self._restarting = asyncio.Lock()  # the stall check and the broker watch may both ask

    def kafka_consumers(self) -> list[Any]:
        """The aiokafka consumers behind this service's subscribers (once started)."""
        return [s.consumer for s in self._subscribers if getattr(s, "consumer", None) is not None]

    def pause(self) -> None:
        """Stop fetching (ops: maintenance, or to watch lag build up); offsets stay put."""
        self.paused = True
        for consumer in self.kafka_consumers():
            consumer.pause(*consumer.assignment())

    def resume(self) -> None:
        self.paused = False
        for consumer in self.kafka_consumers():
            consumer.resume(*consumer.assignment())

    def groups(self) -> list[tuple[str, list[str], str | None]]:
        """(consumer group, topics, pattern) of each subscriber."""
        return list(self._groups)

    def rewind(self) -> None:
        """Read every partition from its beginning the next time it is assigned here (once
        each): the broker lost its state and the producers refill it (runtime.recovery)."""
        self._rewound = {group_id: set() for group_id, _, _ in self._groups}

    async def on_assigned(self, group_id: str, kafka_consumer: Any, assigned: set[Any]) -> None:
        done = self._rewound.get(group_id)
        if done is None:
            return
        fresh = sorted(assigned - done, key=lambda tp: (tp.topic, tp.partition))
        if fresh:
            await kafka_consumer.seek_to_beginning(*fresh)
            done.update(fresh)
            log.info("%s reads %d partitions from the beginning again", group_id, len(fresh))

    async def restart(self, timeout: float = 15.0, *, rewind: bool = False) -> None:
        """New Kafka consumers for every subscriber (a stalled one, or after the broker lost
        its state); they resume from the group's committed offsets — or, with `rewind`, from
        the beginning — and the inbox skips repeats."""
        async with self._restarting:
            if rewind:
                self.rewind()
            self.restarts += 1
            metrics.CONSUMER_RESTARTS.inc()
            for subscriber in self._subscribers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(subscriber.stop(), timeout)
                await subscriber.start()
            if self.paused:
                self.pause()

    def attach(self, broker: KafkaBroker, routers: list[EventRouter]) -> None:
        topic_routers = [r for r in routers if r.topic]
        if topic_routers:
            self._subscribe(broker, Routes(topic_routers), [r.topic for r in topic_routers], None,
                            self._settings.service_name)
        for i, r in enumerate(r for r in routers if r.pattern):
            # A group of its own: members of one group with different subscriptions (topic
            # list vs pattern) made joins after a restart hang on Tansu.
            self._subscribe(broker, r, [], r.pattern, f"{self._settings.service_name}.pattern{i}")

    def _subscribe(self, broker: KafkaBroker, routes: "EventRouter | Routes", topics: list[str],
                   pattern: str | None, group_id: str) -> None:
        s = self._settings
        holder: list[Any] = []
        subscriber = broker.subscriber(
            *topics,
            pattern=pattern,
            group_id=group_id,
            listener=_Rebalance(self, group_id, holder),
            batch=True,
            max_records=s.consumer_max_records,
            batch_timeout_ms=s.kafka_fetch_max_wait_ms,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )

        async def handle_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await self.process(routes, records)

        subscriber(handle_batch)
        holder.append(subscriber)
        self._subscribers.append(subscriber)
        self._routes.append(routes)
        self._groups.append((group_id, topics, pattern))

    # -- the batch ---------------------------------------------------------------------

    async def process(self, routes: "EventRouter | Routes", records: tuple[ConsumerRecord, ...]) -> None:
        if routes not in self._routes:
            self._routes.append(routes)
        self.batches += 1
        parsed: list[tuple[EventRouter, ConsumerRecord, CloudEvent[dict[str, Any]], type[Event]]] = []
        dead: list[_DeadLetter] = []
        for record in records:
            router = routes.for_topic(record.topic)
            if router is None:
                continue
            try:
                envelope = CloudEvent[dict[str, Any]].model_validate_json(record.value or b"")
            except ValidationError as exc:
                dead.append(_DeadLetter(record, "invalid event: " + _describe(exc)))
                continue
            if envelope.type == CaseErased.type_name() and self._keyring is not None and envelope.subject:
                self._keyring.forget(envelope.subject)
            model = router.handled_models().get(envelope.type)
            if model is None:
                continue  # a type this service does not act on
            parsed.append((router, record, envelope, model))

        items: list[_Item] = []
        try:
            keys = await self._keys_for([env for _, _, env, _ in parsed])
        except TRANSIENT as exc:
            await self._backoff(exc)
            raise
        for router, record, envelope, model in parsed:
            try:
                event, personal = self._typed(envelope, model, keys)
            except (ValidationError, CannotOpen) as exc:
                reason = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
                dead.append(_DeadLetter(record, "invalid event: " + reason))
                continue
            items.append(_Item(router, record, envelope, event, decode_kafka_headers(record.headers), personal))

        try:
            await self._apply(items)
            _crash_point_after_commit(items)
        except TRANSIENT as exc:
            await self._backoff(exc)
            raise
        except Exception:
            log.warning("batch of %d failed; retrying record by record", len(items), exc_info=True)
            for item in items:
                reason = await self._apply_with_retries(item)
                if reason:
                    dead.append(_DeadLetter(item.record, reason, str(item.envelope.id)))
        if dead:
            await self._dead_letter(dead)

    async def _keys_for(self, envelopes: list[CloudEvent[dict[str, Any]]]) -> dict[str, bytes | None]:
        """The data keys these events need and this service may have (one request per producer)."""
        wanted = set()
        for env in envelopes:
            sealed = env.data.get("sealed")
            if isinstance(sealed, dict) and isinstance(sealed.get("kid"), str):
                try:
                    kid = KeyId.parse(sealed["kid"])
                except ValueError:
                    continue  # dead-lettered when it is opened
                if self._keyring is not None and self._keyring.may_read(kid):
                    wanted.add(str(kid))
        if not wanted or self._keyring is None:
            return {}
        return await self._keyring.keys(wanted)

    def _typed(self, envelope: CloudEvent[dict[str, Any]], model: type[Event],
               keys: dict[str, bytes | None]) -> tuple[Event, str]:
        """The typed event, its personal fields put back when this service may read them.
        Raises ValidationError or CannotOpen (a dead letter)."""
        data = dict(envelope.data)
        raw = data.pop("sealed", None)
        if raw is None:
            return model.model_validate(data), "clear"
        sealed = Sealed.model_validate(raw)
        try:
            kid: KeyId | None = KeyId.parse(sealed.kid)
        except ValueError:
            kid = None
        if kid is None or kid.subject != envelope.subject:
            raise CannotOpen(f"sealed under {sealed.kid!r}, which is not a key of this event's subject")
        if str(kid) not in keys:
            return model.model_validate(data), "withheld"
        key = keys[str(kid)]
        if key is None:
            return model.model_validate(data), "erased"
        opened = open_data(sealed, key, event_type=envelope.type, subject=envelope.subject or "")
        return model.model_validate({**data, **opened}), "opened"

    async def _apply(self, items: list[_Item]) -> None:
        if not items:
            return
        parked: set[str] = set()
        async with self._pool().acquire() as conn, conn.transaction():
            claimed = {
                row["event_id"]
                for row in await conn.fetch(
                    "INSERT INTO inbox (event_id, event_type)"
                    " SELECT * FROM unnest($1::text[], $2::text[])"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    [str(i.envelope.id) for i in items],
                    [i.envelope.type for i in items],
                )
            }
            uow = UnitOfWork(conn, self._settings.source, self._keys)
            for item in items:
                event_id = str(item.envelope.id)
                if event_id not in claimed:
                    continue  # handled before: redelivery or a duplicate in this batch
                claimed.discard(event_id)
                waits_for = await self._handle(conn, uow, item)
                if waits_for is not None:
                    await self._unclaim(conn, event_id)
                    await _park(conn, item, waits_for)
                    parked.add(event_id)
                    continue
                await self._apply_parked(conn, uow)
            await uow.flush()
        done = [i for i in items if str(i.envelope.id) not in parked]
        self.handled += len(done)
        for item in done:
            metrics.EVENTS_HANDLED.labels(item.envelope.type).inc()

    async def _handle(self, conn: asyncpg.Connection, uow: UnitOfWork, item: _Item) -> NotYetKnown | None:
        """Run the item's handler in a savepoint; a NotYetKnown is returned, the handler's
        writes (and its outbox rows and log records) undone."""
        mark = uow.mark()
        try:
            async with conn.transaction():  # a savepoint inside the batch's transaction
                with tracer.start_as_current_span(
                    f"handle {item.envelope.type}",
                    context=context_from_headers(item.headers),
                    kind=trace.SpanKind.CONSUMER,
                    attributes={"messaging.destination.name": item.record.topic,
                                "messaging.kafka.partition": item.record.partition,
                                "samenwijk.case_id": item.envelope.subject or ""},
                ):
                    await item.router.handlers[item.envelope.type](item.event, item.meta(), uow)
        except NotYetKnown as exc:
            uow.rollback_to(mark)
            return exc
        except BaseException:
            uow.rollback_to(mark)
            raise
        return None

    @staticmethod
    async def _unclaim(conn: asyncpg.Connection, event_id: str) -> None:
        await conn.execute("DELETE FROM inbox WHERE event_id = $1", event_id)

    async def _apply_parked(self, conn: asyncpg.Connection, uow: UnitOfWork) -> None:
        """The entities the last handler made known: apply what waited for them, in the
        producer's order; what that makes known in turn is applied too."""
        keys = uow.take_known()
        while keys:
            key = keys.pop(0)
            for row in await conn.fetch(
                    'SELECT id, park_key, event_id, topic, partition, "offset", key, value, headers, parked_at'
                    " FROM parked_event WHERE park_key = $1 ORDER BY event_time, id FOR UPDATE", key):
                await self._unpark(conn, uow, row)
                keys.extend(uow.take_known())

    async def _unpark(self, conn: asyncpg.Connection, uow: UnitOfWork, row: Any) -> bool:
        """Try one parked event again. True when it is done with (applied, or handled before)."""
        item = await self._item_of(row)
        if item is None:  # no router for it any more: nothing here will ever handle it
            await conn.execute("DELETE FROM parked_event WHERE id = $1", row["id"])
            return True
        event_id = str(item.envelope.id)
        fresh = await conn.fetch(
            "INSERT INTO inbox (event_id, event_type) SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT DO NOTHING RETURNING event_id", [event_id], [item.envelope.type])
        if fresh:
            try:
                waits_for = await self._handle(conn, uow, item)
                still = (waits_for.key, str(waits_for)) if waits_for else None
            except TRANSIENT:
                raise
            except Exception as exc:  # a handler bug: it stays parked; the sweeper dead-letters it in time
                log.warning("parked event %s failed again: %s", event_id, exc)
                still = (row["park_key"], f"handler failed: {type(exc).__name__}: {exc}")
            if still is not None:
                await self._unclaim(conn, event_id)
                await conn.execute(
                    "UPDATE parked_event SET park_key = $2, reason = $3, attempts = attempts + 1 WHERE id = $1",
                    row["id"], *still)
                return False
            metrics.PARKED_APPLIED.labels(item.envelope.type).inc()
            log.info("applied parked %s %s (waited for %s)", item.envelope.type, event_id, row["park_key"])
        await conn.execute("DELETE FROM parked_event WHERE id = $1", row["id"])
        return True

    async def _item_of(self, row: Any) -> _Item | None:
        router = next((r for routes in self._routes for r in [routes.for_topic(row["topic"])] if r), None)
        if router is None:
            return None
        envelope = CloudEvent[dict[str, Any]].model_validate_json(row["value"])
        model = router.handled_models().get(envelope.type)
        if model is None:
            return None
        event, personal = self._typed(envelope, model, await self._keys_for([envelope]))
        record = ConsumerRecord(row["topic"], row["partition"], row["offset"], 0, 0, row["key"], row["value"],
                                None, len(row["key"] or b""), len(row["value"]), [])
        return _Item(router, record, envelope, event, dict(row["headers"] or {}), personal)

    async def sweep_parked(self, limit: int = 200) -> tuple[int, int, int]:
        """Retry every parked event (oldest first); dead-letter those parked longer than
        `consumer_park_max_age_s`. Returns (applied, still parked, dead-lettered)."""
        max_age = self._settings.consumer_park_max_age_s
        applied = waiting = expired = 0
        async with self._pool().acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn, self._settings.source, self._keys)
            rows = await conn.fetch(  # the age by the database's clock, like parked_at
                'SELECT id, park_key, event_id, topic, partition, "offset", key, value, headers, parked_at, reason,'
                " extract(epoch FROM now() - parked_at)::float8 AS age"
                " FROM parked_event ORDER BY event_time, id LIMIT $1 FOR UPDATE SKIP LOCKED", limit)
            dead: list[_DeadLetter] = []
            for row in rows:
                if await self._unpark(conn, uow, row):
                    applied += 1
                    await self._apply_parked(conn, uow)
                    continue
                age = row["age"]
                if age < max_age:
                    waiting += 1
                    continue
                await conn.execute("DELETE FROM parked_event WHERE id = $1", row["id"])
                dead.append(_DeadLetter(
                    _Coordinates(row["topic"], row["partition"], row["offset"], row["key"], row["value"]),
                    f"parked {age:.0f} s, longer than {max_age:.0f} s: {row['reason']}", row["event_id"]))
                expired += 1
            await uow.flush()
            if dead:
                await self._write_dead_letters(conn, dead)
        if waiting or expired:
            log.warning("%d events parked waiting for an entity, %d dead-lettered after %.0f s",
                        waiting, expired, max_age)
        return applied, waiting, expired

    async def _apply_with_retries(self, item: _Item) -> str | None:
        """Returns None when handled, else the reason to dead-letter it."""
        attempts = self._settings.consumer_max_attempts
        for attempt in range(1, attempts + 1):
            try:
                await self._apply([item])
                return None
            except TRANSIENT as exc:
                await self._backoff(exc)
                raise
            except Rejected as exc:
                return f"rejected: {exc}"
            except Exception as exc:  # a handler bug or data it cannot take
                if attempt == attempts:
                    return f"handler failed {attempts} times: {type(exc).__name__}: {exc}"
                await asyncio.sleep(0.05 * 2**attempt)
        return None

    async def _dead_letter(self, dead: list[_DeadLetter]) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            await self._write_dead_letters(conn, dead)

    async def _write_dead_letters(self, conn: asyncpg.Connection, dead: list[_DeadLetter]) -> None:
        fresh_letters = 0
        uow = UnitOfWork(conn, self._settings.source, self._keys)
        for d in dead:
            r = d.record
            # Claim by event id, or by coordinates when it had none we could read.
            claim = d.event_id or f"record:{r.topic}:{r.partition}:{r.offset}"
            fresh = await conn.fetchval(
                "INSERT INTO inbox (event_id, event_type) VALUES ($1, 'dead-letter')"
                " ON CONFLICT DO NOTHING RETURNING true", claim)
            if not fresh:
                continue
            await conn.execute(
                'INSERT INTO dead_letter (topic, partition, "offset", key, value, reason)'
                " VALUES ($1, $2, $3, $4, $5, $6)",
                r.topic, r.partition, r.offset, r.key, r.value, d.reason)
            uow.publish_record(OutgoingRecord(
                topic=Topics.DEAD_LETTER,
                key=r.key,
                value=r.value or b"",
                headers={
                    "content-type": CONTENT_TYPE,
                    "dlq-reason": d.reason[:2000],
                    "dlq-service": self._settings.service_name,
                    "dlq-original-topic": r.topic,
                    "dlq-original-partition": str(r.partition),
                    "dlq-original-offset": str(r.offset),
                },
            ))
            fresh_letters += 1
            log.warning("dead-lettered %s/%d@%d: %s", r.topic, r.partition, r.offset, d.reason)
        await uow.flush()
        self.dead_letters += fresh_letters
        for d in dead:
            metrics.DEAD_LETTERS.labels(d.record.topic).inc()

    async def _backoff(self, exc: BaseException) -> None:
        log.warning("transient failure, the batch will come again: %s", exc)
        await asyncio.sleep(1.0)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands each new assignment to the Consumer (which may rewind it)."""

    def __init__(self, owner: Consumer, group_id: str, holder: list[Any]) -> None:
        self._owner, self._group_id, self._holder = owner, group_id, holder

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[Any]) -> None:
        kafka_consumer = self._holder[0].consumer if self._holder else None
        if kafka_consumer is not None:
            await self._owner.on_assigned(self._group_id, kafka_consumer, set(assigned))


def _crash_point_after_commit(items: list[_Item]) -> None:
    """Fault injection for the crash tests: SIGKILL this process after the database commit
    and before the offset commit, when a batch held the event type named in
    SAMENWIJK_FAULT_KILL_AFTER_COMMIT. Unset (always, outside tests) it does nothing."""
    event_type = os.environ.get("SAMENWIJK_FAULT_KILL_AFTER_COMMIT")
    if event_type and any(i.envelope.type == event_type for i in items):
        os.kill(os.getpid(), signal.SIGKILL)


async def _park(conn: asyncpg.Connection, item: _Item, waits_for: NotYetKnown) -> None:
    r = item.record
    await conn.execute(
        'INSERT INTO parked_event (park_key, event_id, event_type, event_time, topic, partition, "offset",'
        " key, value, headers, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (event_id) DO NOTHING",
        waits_for.key, str(item.envelope.id), item.envelope.type, item.envelope.time, r.topic, r.partition,
        r.offset, r.key, r.value or b"", item.headers, str(waits_for))
    metrics.EVENTS_PARKED.labels(item.envelope.type).inc()
    log.info("parked %s %s from %s/%d@%d: %s", item.envelope.type, item.envelope.id, r.topic, r.partition,
             r.offset, waits_for)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(record)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
