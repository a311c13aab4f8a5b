"""Helpers of the tests against the real stack. The stack fixture itself (one per broker per
session, Tansu and Apache Kafka) is in tests/conftest.py, shared with tests/security."""

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.envelope import CONTENT_TYPE
from contracts.personal import Sealed
from runtime.sealing import open_data
from samenwijk_dev import demo
from samenwijk_dev.stack import Stack

pytestmark = pytest.mark.integration


def only_on(stack: Stack, broker: str, reason: str) -> None:
    """A test that is genuinely about one broker says which and why."""
    if stack.broker.kind != broker:
        pytest.skip(f"{broker} only: {reason}")


@contextlib.contextmanager
def restarted(stack: Stack, service: str, env: dict[str, str]) -> Iterator[str]:
    """The service restarted with `env` added; as it was again afterwards. Yields its URL."""
    svc = stack.services[service]
    saved = dict(svc.env)
    svc.stop()
    svc.env.update(env)
    svc.start(wait=True)
    try:
        yield stack.url(service)
    finally:
        svc.stop()
        svc.env.clear()
        svc.env.update(saved)
        svc.start(wait=True)


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


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def open_as_partner(stack: Stack, token: str, record: ConsumerRecord) -> dict[str, Any] | None:
    """What a partner does with a record of its inbox topic (docs/partners.md): fetch the
    case's inbox key through the partner API and open the sealed fields with AES-GCM.
    Returns the event's data, or None when there is no key (erased, or not allowed now)."""
    env = envelope(record)
    data = dict(env["data"])
    sealed = data.pop("sealed", None)
    if sealed is None:
        return data
    r = httpx.get(f"{stack.url('partners')}/v1/inbox-keys/{env['subject']}", headers=auth(token))
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    key = r.json()
    assert key["alg"] == sealed["alg"] == "A256GCM"
    aad = f"{env['type']}|{env['subject']}|{sealed['kid']}".encode()
    try:
        plain = AESGCM(b64url(key["key"])).decrypt(b64url(sealed["iv"]), b64url(sealed["ct"]), aad)
    except InvalidTag:  # its own inbox key (of another kid) opens nothing of another inbox
        assert key["kid"] != sealed["kid"]
        return None
    return {**data, **json.loads(plain)}


def service_token(stack: Stack, service: str, audience: str) -> str:
    """A service-to-service token naming `service`, for `audience`, as the issuer makes them."""
    return demo.dev_token(stack.jwt_signing_key, service, "service", ("data-keys:read",), audience=[audience])


def opened(stack: Stack, env: dict[str, Any], reader: str = "referral") -> dict[str, Any]:
    """An event's data with its sealed fields opened as the service `reader` would (it must be
    a reader of the key class, contracts/personal.py)."""
    data = dict(env["data"])
    sealed = data.pop("sealed", None)
    if sealed is None:
        return data
    producer = sealed["kid"].split("/")[0]
    r = httpx.post(f"{stack.url(producer)}/v1/data-keys", json={"kids": [sealed["kid"]]},
                   headers=auth(service_token(stack, reader, producer)))
    assert r.status_code == 200, r.text
    key = r.json()["keys"][sealed["kid"]]
    return {**data, **open_data(Sealed.model_validate(sealed), b64url(key), event_type=env["type"],
                                subject=env["subject"])}
