"""Helpers of the tests against the real stack. The stack fixture itself (one per broker per
session, Tansu and Apache Kafka) is in tests/conftest.py, shared with tests/security."""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from contracts.envelope import CONTENT_TYPE
from samenwijk_dev import demo
from samenwijk_dev.stack import Stack

pytestmark = pytest.mark.integration


def only_on(stack: Stack, broker: str, reason: str) -> None:
    """A test that is genuinely about one broker says which and why."""
    if stack.broker.kind != broker:
        pytest.skip(f"{broker} only: {reason}")


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
