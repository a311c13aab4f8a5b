"""runtime.consumer.Consumer.process: inbox dedup, dead letters, retries, rollback — against
an in-memory asyncpg stand-in (tests/unit/fakes.py), no broker and no database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from aiokafka.structs import ConsumerRecord

import runtime.consumer as consumer_module
from contracts.envelope import encode
from contracts.events import Address, CaseClosed, CaseDetails, CaseOpened, Severity
from contracts.topics import Topics
from runtime.consumer import Consumer, EventMeta, EventRouter, Rejected
from runtime.sealing import KeyStore
from runtime.settings import ServiceSettings
from runtime.unit_of_work import UnitOfWork
from tests.unit.fakes import FakePool

SOURCE = "urn:nld:samenwijk:intake"
EFFECTS = "test.effects"
MAX_ATTEMPTS = 3


# -- building blocks -----------------------------------------------------------------------


def case_opened(case_id: uuid.UUID | None = None) -> CaseOpened:
    return CaseOpened(
        case_id=case_id or uuid.uuid4(), corporation_id="corp-test", category="overlast.geluid",
        severity=Severity.NORMAL, buurt_code="BU03634501", wijk_code="WK036345",
        details=CaseDetails(address=Address(postcode="1021AB", huisnummer=12), description="noise"),
        opened_at=datetime(2026, 3, 4, 10, 0, tzinfo=UTC),
    )


class Log:
    """Kafka partition stand-in: hands out increasing offsets."""

    def __init__(self, topic: str = Topics.CASES, partition: int = 2) -> None:
        self.topic, self.partition, self._next = topic, partition, 100

    def record(self, value: bytes | None, key: bytes | None = None,
               headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:
        offset, self._next = self._next, self._next + 1
        return ConsumerRecord(self.topic, self.partition, offset, 1_772_000_000_000, 0, key, value, None,
                              len(key or b""), len(value or b""), headers or [])

    def event(self, event: CaseOpened | CaseClosed, event_id: uuid.UUID | None = None) -> ConsumerRecord:
        return self.record(encode(event, SOURCE, event_id), key=event.subject().encode())


class Recorder:
    """A CaseOpened handler that notes each call and publishes one effect per event."""

    def __init__(self, fail: dict[uuid.UUID, BaseException] | None = None) -> None:
        self.calls: list[uuid.UUID] = []
        self.metas: list[EventMeta] = []
        self.fail = fail or {}

    async def __call__(self, event: CaseOpened, meta: EventMeta, uow: UnitOfWork) -> None:
        self.calls.append(event.case_id)
        self.metas.append(meta)
        uow.publish(event, EFFECTS)  # part of the transaction: committed or rolled back with it
        if event.case_id in self.fail:
            raise self.fail[event.case_id]

    def calls_for(self, case_id: uuid.UUID) -> int:
        return self.calls.count(case_id)


def router_with(handler: Recorder) -> EventRouter:
    router = EventRouter(topic=Topics.CASES)
    router.on(CaseOpened)(handler)
    return router


def effects(pool: FakePool) -> list[uuid.UUID]:
    """Case ids of the committed handler effects, in outbox order."""
    return [uuid.UUID(row.key.decode()) for row in pool.outbox if row.topic == EFFECTS]  # type: ignore[union-attr]


def dead_letter_records(pool: FakePool) -> list[Any]:
    return [row for row in pool.outbox if row.topic == Topics.DEAD_LETTER]


class SleepRecorder:
    """Replaces `asyncio` inside runtime.consumer: sleep returns at once and is noted."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, delay: float, *args: Any) -> None:
        self.sleeps.append(delay)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    shim = SleepRecorder()
    monkeypatch.setattr(consumer_module, "asyncio", shim)
    monkeypatch.delenv("SAMENWIJK_FAULT_KILL_AFTER_COMMIT", raising=False)
    yield shim.sleeps


@pytest.fixture
def pool() -> FakePool:
    return FakePool()


@pytest.fixture
def consumer(pool: FakePool, sleeps: list[float]) -> Consumer:
    settings = ServiceSettings(service_name="referral", consumer_max_attempts=MAX_ATTEMPTS)
    keys = KeyStore("referral", SecretStr("unit-test-kek-0123456789abcdef0123456789"))
    return Consumer(settings, lambda: pool, keys)  # type: ignore[arg-type, return-value]


# -- valid batches -------------------------------------------------------------------------


async def test_valid_batch_calls_the_handler_once_per_record_in_order(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    cases = [case_opened() for _ in range(5)]

    await consumer.process(router_with(handler), tuple(log.event(c) for c in cases))

    assert handler.calls == [c.case_id for c in cases]
    assert effects(pool) == [c.case_id for c in cases]
    assert pool.dead_letters == []


async def test_handler_gets_the_event_id_and_kafka_coordinates(consumer: Consumer) -> None:
    log, handler = Log(topic=Topics.CASES, partition=4), Recorder()
    event_id = uuid.uuid4()
    record = log.event(case_opened(), event_id)

    await consumer.process(router_with(handler), (record,))

    (meta,) = handler.metas
    assert meta.event_id == event_id
    assert meta.type == CaseOpened.type_name()
    assert meta.source == SOURCE
    assert (meta.topic, meta.partition, meta.offset) == (Topics.CASES, 4, record.offset)


async def test_handled_event_ids_are_claimed_in_the_inbox(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    ids = [uuid.uuid4(), uuid.uuid4()]

    await consumer.process(router_with(handler), tuple(log.event(case_opened(), i) for i in ids))

    assert set(pool.inbox) == {str(i) for i in ids}


async def test_empty_batch_does_nothing(consumer: Consumer, pool: FakePool) -> None:
    await consumer.process(router_with(Recorder()), ())

    assert pool.commits == 0 and pool.outbox == [] and pool.inbox == {}


# -- duplicates ----------------------------------------------------------------------------


async def test_same_event_twice_in_one_batch_is_handled_once(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    event, event_id = case_opened(), uuid.uuid4()

    await consumer.process(router_with(handler), (log.event(event, event_id), log.event(event, event_id)))

    assert handler.calls == [event.case_id]
    assert effects(pool) == [event.case_id]


async def test_redelivered_event_in_a_later_batch_is_not_handled_again(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    router = router_with(handler)
    event, event_id = case_opened(), uuid.uuid4()
    other = case_opened()

    await consumer.process(router, (log.event(event, event_id), log.event(event, event_id)))
    await consumer.process(router, (log.event(event, event_id), log.event(other)))

    assert handler.calls == [event.case_id, other.case_id]
    assert effects(pool) == [event.case_id, other.case_id]


# -- malformed records ---------------------------------------------------------------------


def assert_dead_lettered(pool: FakePool, record: ConsumerRecord, reason_part: str) -> None:
    rows = [d for d in pool.dead_letters if (d.topic, d.partition, d.offset) == (record.topic, record.partition, record.offset)]
    assert len(rows) == 1, pool.dead_letters
    assert reason_part in rows[0].reason
    assert rows[0].value == record.value and rows[0].key == record.key

    dlq = [r for r in dead_letter_records(pool) if r.headers["dlq-original-offset"] == str(record.offset)]
    assert len(dlq) == 1
    headers = dlq[0].headers
    assert reason_part in headers["dlq-reason"]
    assert headers["dlq-original-topic"] == record.topic
    assert headers["dlq-original-partition"] == str(record.partition)
    assert dlq[0].value == (record.value or b"")
    assert dlq[0].key == record.key


async def test_garbage_record_is_dead_lettered_and_the_rest_of_the_batch_handled(
        consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    first, last = case_opened(), case_opened()
    garbage = log.record(b"\x00\xffnot json at all", key=b"some-key")

    await consumer.process(router_with(handler), (log.event(first), garbage, log.event(last)))

    assert handler.calls == [first.case_id, last.case_id]
    assert effects(pool) == [first.case_id, last.case_id]
    assert_dead_lettered(pool, garbage, "invalid event")


async def test_valid_envelope_with_invalid_data_is_dead_lettered(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    good = case_opened()
    envelope = json.loads(encode(case_opened(), SOURCE))
    envelope["data"]["case_id"] = "not-a-uuid"
    del envelope["data"]["buurt_code"]
    invalid = log.record(json.dumps(envelope).encode())

    await consumer.process(router_with(handler), (invalid, log.event(good)))

    assert handler.calls == [good.case_id]
    assert_dead_lettered(pool, invalid, "case_id")
    assert "buurt_code" in pool.dead_letters[0].reason


async def test_record_without_a_value_is_dead_lettered(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    tombstone = log.record(None, key=b"case")

    await consumer.process(router_with(handler), (tombstone,))

    assert handler.calls == []
    assert len(pool.dead_letters) == 1
    assert dead_letter_records(pool)[0].value == b""


async def test_same_malformed_record_processed_twice_is_dead_lettered_once(
        consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    router = router_with(handler)
    garbage = log.record(b"{not json")

    await consumer.process(router, (garbage,))
    await consumer.process(router, (garbage,))

    assert len(pool.dead_letters) == 1
    assert len(dead_letter_records(pool)) == 1
    assert consumer.dead_letters == 1


async def test_malformed_records_at_different_offsets_are_each_dead_lettered(
        consumer: Consumer, pool: FakePool) -> None:
    log = Log()
    first, second = log.record(b"{not json"), log.record(b"{not json")

    await consumer.process(router_with(Recorder()), (first, second))

    assert sorted(d.offset for d in pool.dead_letters) == [first.offset, second.offset]


# -- types the service does not handle -----------------------------------------------------


async def test_event_type_without_a_handler_is_skipped_silently(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    closed = CaseClosed(case_id=uuid.uuid4(), corporation_id="corp", outcome="resolved",
                        closed_at=datetime(2026, 3, 5, tzinfo=UTC))
    opened = case_opened()

    await consumer.process(router_with(handler), (log.event(closed), log.event(opened)))

    assert handler.calls == [opened.case_id]
    assert pool.dead_letters == []
    assert dead_letter_records(pool) == []


async def test_event_type_unknown_to_the_registry_is_skipped_silently(consumer: Consumer, pool: FakePool) -> None:
    log, handler = Log(), Recorder()
    envelope = json.loads(encode(case_opened(), SOURCE))
    envelope["type"] = "nl.samenwijk.case.reclassified"
    envelope["data"] = {"anything": "goes"}

    await consumer.process(router_with(handler), (log.record(json.dumps(envelope).encode()),))

    assert handler.calls == []
    assert pool.dead_letters == []


# -- failing handlers ----------------------------------------------------------------------


async def test_handler_that_keeps_failing_is_retried_then_dead_lettered(
        consumer: Consumer, pool: FakePool, sleeps: list[float]) -> None:
    log = Log()
    bad = case_opened()
    handler = Recorder(fail={bad.case_id: ValueError("cannot route this")})
    record = log.event(bad)

    await consumer.process(router_with(handler), (record,))

    # once inside the batch transaction, then MAX_ATTEMPTS times on its own
    assert handler.calls_for(bad.case_id) == 1 + MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1  # a backoff between the individual attempts
    assert_dead_lettered(pool, record, "ValueError: cannot route this")
    assert f"{MAX_ATTEMPTS} times" in pool.dead_letters[0].reason
    assert effects(pool) == []  # every failed attempt was rolled back


async def test_failing_handler_does_not_stop_or_duplicate_the_rest_of_the_batch(
        consumer: Consumer, pool: FakePool) -> None:
    log = Log()
    before, bad, after = case_opened(), case_opened(), case_opened()
    handler = Recorder(fail={bad.case_id: ValueError("boom")})
    bad_record = log.event(bad)

    await consumer.process(router_with(handler), (log.event(before), bad_record, log.event(after)))

    assert effects(pool) == [before.case_id, after.case_id]  # committed exactly once each
    assert handler.calls_for(after.case_id) == 1
    assert pool.rollbacks > 0  # the batch transaction was rolled back, not committed half-done
    assert len(pool.dead_letters) == 1
    assert_dead_lettered(pool, bad_record, "ValueError: boom")


async def test_a_dead_lettered_failing_event_is_not_retried_on_redelivery(
        consumer: Consumer, pool: FakePool) -> None:
    log = Log()
    bad, event_id = case_opened(), uuid.uuid4()
    handler = Recorder(fail={bad.case_id: ValueError("boom")})
    router = router_with(handler)

    await consumer.process(router, (log.event(bad, event_id),))
    calls_after_first_delivery = len(handler.calls)
    await consumer.process(router, (log.event(bad, event_id),))

    assert len(pool.dead_letters) == 1
    assert len(handler.calls) == calls_after_first_delivery


async def test_rejected_event_is_dead_lettered_without_retries(
        consumer: Consumer, pool: FakePool, sleeps: list[float]) -> None:
    log = Log()
    bad, good = case_opened(), case_opened()
    handler = Recorder(fail={bad.case_id: Rejected("referral is already accepted")})
    record = log.event(bad)

    await consumer.process(router_with(handler), (record, log.event(good)))

    # once inside the failed batch, then a single attempt of its own
    assert handler.calls_for(bad.case_id) == 2
    assert sleeps == []
    assert_dead_lettered(pool, record, "rejected: referral is already accepted")
    assert effects(pool) == [good.case_id]


async def test_transient_failure_propagates_and_dead_letters_nothing(
        consumer: Consumer, pool: FakePool) -> None:
    log = Log()
    good, flaky = case_opened(), case_opened()
    handler = Recorder(fail={flaky.case_id: OSError("connection reset by peer")})

    with pytest.raises(OSError, match="connection reset"):
        await consumer.process(router_with(handler), (log.event(good), log.event(flaky)))

    assert pool.dead_letters == []
    assert pool.outbox == []  # the whole batch was rolled back, good record included
    assert pool.inbox == {}
    assert handler.calls_for(flaky.case_id) == 1  # not retried here: the batch comes again


async def test_batch_redelivered_after_a_transient_failure_is_handled_once(
        consumer: Consumer, pool: FakePool) -> None:
    log = Log()
    good, flaky = case_opened(), case_opened()
    handler = Recorder(fail={flaky.case_id: TimeoutError("database timed out")})
    router = router_with(handler)
    batch = (log.event(good), log.event(flaky))

    with pytest.raises(TimeoutError):
        await consumer.process(router, batch)
    handler.fail.clear()
    await consumer.process(router, batch)  # offsets were not committed: same records again

    assert effects(pool) == [good.case_id, flaky.case_id]
    assert pool.dead_letters == []
