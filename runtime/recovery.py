"""Recovery without a person when the broker loses its state (Tansu keeps everything in
memory; a new or wiped cluster is the same thing).

How a service notices. The broker's cluster id says nothing (Tansu's is always the same),
and a missing topic may have been recreated already by another service. So the first
record of the one-partition topic `samenwijk.broker-epoch` names the broker's *epoch* (a
uuid): whoever finds the topic missing creates it and writes one; everyone reads offset 0.
Every instance remembers the epoch it works with (in memory), and each service remembers
the epoch its outbox was published to (`broker_epoch` table). A different epoch means the
broker lost what it had:

1. The service (one instance: compare-and-set on `broker_epoch`) puts its retained outbox
   rows back to unpublished, under the relay's batch lock (runtime.outbox), and recreates
   the topics it publishes to. The relay then publishes everything again in id order —
   the old rows before the new ones, so nothing overtakes — with the original event ids.
   Rows "published" into the void between the loss and its discovery are among them.
2. Every instance rewinds its consumers: it waits until the topics it reads exist again
   (their owners recreate them), recreates its Kafka consumers and reads each partition from
   the beginning the first time it is assigned one; the inbox skips what was handled before.

The check runs every `broker_check_interval_s` and at start-up (before the relay and the
consumers start). Nothing to do on a broker that kept its data: its epoch is unchanged.
"""

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka.security import parse_security

from contracts.topics import Topics
from runtime import metrics
from runtime.broker import ensure_topics, security
from runtime.outbox import RELAY_BATCH_LOCK_ID

if TYPE_CHECKING:
    from runtime.service import ServiceRuntime

log = logging.getLogger(__name__)

EPOCH_TOPIC = "samenwijk.broker-epoch"


async def broker_epoch(rt: "ServiceRuntime") -> str:
    """The broker's epoch: the first record of EPOCH_TOPIC, written now if there is none."""
    s = rt.settings
    sec = parse_security(security(s))
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id=f"{s.service_name}-epoch", **sec)
    await admin.start()
    try:
        if EPOCH_TOPIC not in await admin.list_topics():
            # Kept forever: if its first record aged out, the next one would look like a new broker.
            result = await admin.create_topics([NewTopic(EPOCH_TOPIC, 1, s.kafka_replication_factor,
                                                         topic_configs={"retention.ms": "-1"})])
            for topic, code, *_ in getattr(result, "topic_errors", []):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"could not create {topic}: error {code}")
    finally:
        await admin.close()
    tp = TopicPartition(EPOCH_TOPIC, 0)
    for _ in range(3):
        epoch = await _first_record(rt, tp)
        if epoch is not None:
            return epoch
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all",
                                    client_id=f"{s.service_name}-epoch", **sec)
        await producer.start()
        try:  # several may write one at once: offset 0 decides
            await producer.send_and_wait(EPOCH_TOPIC, str(uuid.uuid4()).encode(), partition=0)
        finally:
            await producer.stop()
    raise RuntimeError(f"no epoch record on {EPOCH_TOPIC}")


async def _first_record(rt: "ServiceRuntime", tp: TopicPartition) -> str | None:
    s = rt.settings
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                                client_id=f"{s.service_name}-epoch", **parse_security(security(s)))
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            return None
        batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        records = batch.get(tp, [])
        return records[0].value.decode() if records else None
    finally:
        await consumer.stop()


class BrokerWatch:
    """Notices a broker that lost its state and sets the recovery going (module docstring)."""

    def __init__(self, rt: "ServiceRuntime") -> None:
        self._rt = rt
        self.epoch: str | None = None
        self.recoveries = 0

    async def at_start(self, timeout: float = 10.0) -> bool:
        """Before the relay and the consumers start: a broker the outbox was not published
        to is refilled before anything new goes out. True when this start refilled it (the
        consumers should then read from the beginning). A broker that cannot say within
        `timeout` (a new Kafka cluster electing the epoch partition's leader) does not hold
        the start up: the watch loop takes the first look instead."""
        try:
            epoch = await asyncio.wait_for(broker_epoch(self._rt), timeout)
        except TimeoutError:
            log.info("broker epoch not readable yet; the broker watch checks it shortly")
            return False
        refilled = await self._refill_if_new(epoch, first_start=True)
        self.epoch = epoch
        return refilled

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._rt.settings.broker_check_interval_s)
            try:
                epoch = await asyncio.wait_for(broker_epoch(self._rt), timeout=30)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the next round tries again
                log.info("broker epoch check failed: %s: %s", type(exc).__name__, exc)
                continue
            if self.epoch is None:  # the look at_start could not take
                if await self._refill_if_new(epoch, first_start=True):
                    self.epoch = epoch
                    await self._wait_for_topics()
                    await self._rt.consumer.restart(rewind=True)
                self.epoch = epoch
            elif epoch != self.epoch:
                await self.recover(epoch)

    async def recover(self, epoch: str) -> None:
        log.warning("the broker lost its state (epoch %s -> %s): refilling from the outbox and rewinding consumers",
                    self.epoch, epoch)
        self.recoveries += 1
        metrics.BROKER_RECOVERIES.inc()
        self._rt.relay.topics_ok.clear()  # the relay makes sure of each topic again
        await self._refill_if_new(epoch, first_start=False)
        self.epoch = epoch
        for hook in self._rt.on_start:  # what a service announces to an empty broker (partners' registry)
            await hook(self._rt)
        await self._wait_for_topics()
        await self._rt.consumer.restart(rewind=True)
        log.warning("recovered from the broker loss: consumers read again from the beginning")

    async def _refill_if_new(self, epoch: str, *, first_start: bool) -> bool:
        """Put the outbox back for this epoch unless the service did so already. True when
        this call refilled."""
        rt = self._rt
        async with rt.pool.acquire() as conn, conn.transaction():
            # Wait for the relay's batch in flight, and hold the next one until we commit.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", RELAY_BATCH_LOCK_ID)
            known = await conn.fetchval("SELECT epoch FROM broker_epoch")
            if known == epoch:
                return False  # another instance refilled for this epoch already
            await conn.execute("INSERT INTO broker_epoch (epoch) VALUES ($1)"
                               " ON CONFLICT (singleton) DO UPDATE SET epoch = EXCLUDED.epoch, seen_at = now()", epoch)
            if known is None and first_start:
                return False  # the first start with this table: nothing says the broker lost anything
            refilled = await conn.fetchval(
                "WITH again AS (UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL RETURNING 1)"
                " SELECT count(*) FROM again")
            topics = [r["topic"] for r in await conn.fetch("SELECT DISTINCT topic FROM outbox"
                                                           " WHERE published_at IS NULL")]
            # Only the topics this service publishes to: a consumer's topic comes back with
            # its producer's refill, so nobody's new rows land on it before the old ones.
            await ensure_topics(rt.settings, sorted({*topics, Topics.DEAD_LETTER}))
            rt.relay.topics_ok.update(topics)
            await conn.execute("SELECT pg_notify('outbox', '')")
        metrics.OUTBOX_REFILLED.inc(refilled)
        log.warning("broker epoch %s: %d outbox rows will be published again, in order", epoch, refilled)
        return True

    async def _wait_for_topics(self, timeout: float = 120.0) -> None:
        """The topics this instance reads are recreated by their owners; a consumer that
        subscribes before they exist may not see them for minutes."""
        s = self._rt.settings
        wanted = {t for _, topics, _ in self._rt.consumer.groups() for t in topics}
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id=f"{s.service_name}-epoch",
                                    **parse_security(security(s)))
        await admin.start()
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while asyncio.get_running_loop().time() < deadline:
                missing = wanted - set(await admin.list_topics())
                if not missing:
                    return
                await asyncio.sleep(1)
            # Their producers had nothing to refill: create them, or the consumer may not
            # notice them for minutes.
            log.warning("topics %s still missing after %.0f s; creating them", sorted(missing), timeout)
            await ensure_topics(s, sorted(missing))
        finally:
            await admin.close()
