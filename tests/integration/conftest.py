"""Integration tests run against a real Kafka-protocol broker and real PostgreSQL, both
started here on free ports, with the four services as separate processes.

Every integration test runs twice: on Tansu (memory only, the quick default) and on a
3-node Apache Kafka KRaft cluster (RF 3, min ISR 2). One stack per broker per session;
pytest orders the tests so that only one of the two runs at a time. Without Java or the
Kafka jars the Kafka tier is skipped with the reason printed in the header and the skip
summary. SAMENWIJK_TEST_BROKERS=tansu (or kafka) runs one tier only, for quick runs."""

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from contracts.envelope import CONTENT_TYPE
from samenwijk_dev import demo
from samenwijk_dev.kafka import KAFKA_VERSION, unavailable_reason
from samenwijk_dev.stack import BROKERS, Stack

pytestmark = pytest.mark.integration


def chosen_brokers() -> tuple[str, ...]:
    chosen = os.environ.get("SAMENWIJK_TEST_BROKERS")
    return tuple(b.strip() for b in chosen.split(",") if b.strip() in BROKERS) if chosen else BROKERS


def pytest_report_header(config: pytest.Config) -> list[str]:
    reason = unavailable_reason() if "kafka" in chosen_brokers() else "not chosen (SAMENWIJK_TEST_BROKERS)"
    kafka = f"Apache Kafka {KAFKA_VERSION}, 3 KRaft nodes" if reason is None else f"SKIPPED: {reason}"
    return [f"integration brokers: {', '.join(chosen_brokers())}; kafka tier: {kafka}"]


@pytest.fixture(scope="session", params=chosen_brokers())
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    broker: str = request.param
    if broker == "kafka" and (reason := unavailable_reason()):
        pytest.skip(f"Apache Kafka tier skipped: {reason}")
    run_dir: Path = tmp_path_factory.mktemp(f"stack-{broker}")
    s = Stack.ephemeral(run_dir, broker_kind=broker)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        s.postgres.destroy()


def only_on(stack: Stack, broker: str, reason: str) -> None:
    """A test that is genuinely about one broker says which and why."""
    if stack.broker.kind != broker:
        pytest.skip(f"{broker} only: {reason}")


@pytest.fixture(scope="session")
def tokens(stack: Stack) -> dict[str, str]:
    return demo.dev_tokens(stack.jwt_secret)


@pytest.fixture(scope="session")
def routing_ready(stack: Stack, tokens: dict[str, str]) -> None:
    """Referral has learnt every partner's agreement from partners' events."""
    def ready() -> bool:
        r = httpx.get(stack.url("referral") + "/v1/routing/partners", headers=auth(tokens[demo.ADMIN]))
        return r.status_code == 200 and sum(len(p["agreements"]) for p in r.json()) >= len(demo.PARTNERS)

    wait_for(ready, 30, "routing to know the partners")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


wait_for = demo.wait_until


def query(stack: Stack, service: str, sql: str, *params: Any) -> list[tuple]:
    with psycopg.connect(stack.postgres.dsn(service)) as conn:
        return conn.execute(sql, params).fetchall()


def produce(stack: Stack, topic: str, records: list[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
    """Send (key, value) records in order; returns their (partition, offset)."""
    async def send() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=stack.broker.bootstrap, acks="all")
        await producer.start()
        try:
            out = []
            for key, value in records:
                md = await producer.send_and_wait(topic, value, key=key,
                                                  headers=[("content-type", CONTENT_TYPE.encode())])
                out.append((md.partition, md.offset))
            return out
        finally:
            await producer.stop()

    return asyncio.run(send())


def read_topic(stack: Stack, topic: str, until: Callable[[list[ConsumerRecord]], bool],
               timeout: float = 20) -> list[ConsumerRecord]:
    """Every record on the topic from the start (no group), until `until` holds."""
    async def read() -> list[ConsumerRecord]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.broker.bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=20)
        await consumer.start()
        records: list[ConsumerRecord] = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    records.extend(recs)
                if until(records):
                    return records
            raise AssertionError(f"timed out reading {topic}: {len(records)} records")
        finally:
            await consumer.stop()

    return asyncio.run(read())


def envelope(record: ConsumerRecord) -> dict[str, Any]:
    return json.loads(record.value)


NUISANCE = demo.NUISANCE
CONFUSED_PERSON = demo.CONFUSED_PERSON


def submit(stack: Stack, tokens: dict[str, str], body: dict[str, Any], corporation: str = demo.CORPORATIONS[0]) -> str:
    r = httpx.post(stack.url("intake") + "/v1/cases", json=body, headers=auth(tokens[corporation]))
    assert r.status_code == 201, r.text
    return r.json()["case_id"]


def new_id() -> str:
    return str(uuid.uuid4())
