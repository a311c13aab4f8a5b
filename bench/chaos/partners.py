"""The partners: HTTP partners poll their delivered referrals and accept each; the
Kafka-native partner reads its inbox topic and answers with a command on its responses
topic. Both retry until their answer is taken (accepting twice is idempotent)."""

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.envelope import CONTENT_TYPE, encode
from contracts.events import AcceptReferral
from contracts.topics import Topics

log = logging.getLogger("chaos.partners")


class HttpPartner:
    def __init__(self, partner_id: str, url: Callable[[], str], token: str) -> None:
        self.partner_id = partner_id
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self.accepted: dict[str, float] = {}  # referral id → when the 200 came
        self.errors: Counter[str] = Counter()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(15, connect=3)) as client:
            while True:
                try:
                    r = await client.get(self._url() + "/v1/referrals", headers=self._headers,
                                         params={"status": "delivered", "limit": 200})
                    if r.status_code != 200:
                        self.errors[f"list {r.status_code}"] += 1
                        await asyncio.sleep(0.5)
                        continue
                    todo = [x["referral_id"] for x in r.json()]
                    sem = asyncio.Semaphore(8)

                    async def accept(rid: str) -> None:
                        async with sem:
                            await self._accept(client, rid)

                    await asyncio.gather(*(accept(rid) for rid in todo))
                    if len(todo) < 200:
                        await asyncio.sleep(0.3)
                except httpx.HTTPError as exc:
                    self.errors[f"list {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.5)

    async def _accept(self, client: httpx.AsyncClient, rid: str) -> None:
        try:
            r = await client.post(f"{self._url()}/v1/referrals/{rid}/accept", headers=self._headers,
                                  json={"note": "chaos"})
        except httpx.HTTPError as exc:
            self.errors[f"accept {type(exc).__name__}"] += 1
            return  # still delivered: the next poll tries again
        if r.status_code == 200:
            self.accepted.setdefault(rid, time.monotonic())
        else:
            self.errors[f"accept {r.status_code}"] += 1


class KafkaPartner:
    """Reads its inbox from the start without a group (its own bookkeeping is in memory,
    as a partner's system would keep it), answers every referral once its command is acked."""

    def __init__(self, partner_id: str, bootstrap: Callable[[], str], idempotent: bool,
                 answered_before: set[str] | None = None) -> None:
        self.partner_id = partner_id
        self._answered_before = answered_before or set()  # the warm-up's referrals
        self._bootstrap = bootstrap
        self._idempotent = idempotent
        self.accepted: dict[str, float] = {}
        self.seen: set[str] = set()
        self.errors: Counter[str] = Counter()
        self.producer_restarts = 0

    async def _producer(self) -> AIOKafkaProducer:
        p = AIOKafkaProducer(bootstrap_servers=self._bootstrap().split(","), acks="all",
                             enable_idempotence=self._idempotent, request_timeout_ms=10_000)
        await p.start()
        return p

    async def run(self) -> None:
        topic = Topics.partner_inbox(self.partner_id)
        out = Topics.partner_responses(self.partner_id)
        producer = None
        consumer = None
        try:
            while True:
                try:
                    if consumer is None:
                        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap().split(","), group_id=None,
                                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                                    metadata_max_age_ms=2000, request_timeout_ms=10_000)
                        await consumer.start()
                        consumer.subscribe([topic])
                    if producer is None:
                        producer = await self._producer()
                    batch = await consumer.getmany(timeout_ms=500, max_records=500)
                    todo = []
                    for records in batch.values():
                        for rec in records:
                            try:
                                event = json.loads(rec.value)
                            except ValueError:
                                self.errors["undecodable"] += 1
                                continue
                            rid = event.get("data", {}).get("referral_id")
                            if event.get("type", "").endswith(".referral.requested") and rid:
                                self.seen.add(rid)
                                if rid not in self.accepted and rid not in self._answered_before:
                                    todo.append(rid)
                    for rid in todo:
                        await self._answer(producer, out, rid)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a partner's system recovers and carries on
                    self.errors[type(exc).__name__] += 1
                    log.warning("kafka partner: %r; starting afresh", exc)
                    await _stop(producer, consumer)
                    producer = consumer = None
                    self.producer_restarts += 1
                    await asyncio.sleep(1)
        finally:
            await _stop(producer, consumer)

    async def _answer(self, producer: AIOKafkaProducer, topic: str, rid: str) -> None:
        command = AcceptReferral(referral_id=rid, note="chaos via Kafka")
        # a hung send (a partition below min ISR never expires with idempotence) must not
        # stall the partner for good: give up after 30 s, recreate, and answer again
        await asyncio.wait_for(producer.send_and_wait(
            topic, encode(command, f"urn:nld:partner:{self.partner_id}"), key=rid.encode(),
            headers=[("content-type", CONTENT_TYPE.encode())]), 30)
        self.accepted.setdefault(rid, time.monotonic())




async def _stop(*clients) -> None:
    for c in clients:
        if c is not None:
            try:
                await asyncio.wait_for(c.stop(), 10)
            except Exception:  # noqa: BLE001 - a client of a lost broker may fail to stop cleanly
                pass
