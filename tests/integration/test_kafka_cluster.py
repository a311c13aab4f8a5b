"""What the chaos suite relies on from the launcher, on the session's live 3-node cluster
(nothing here injects a fault: other tests share the cluster)."""

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import Topics
from samenwijk_dev.kafka import KafkaCluster

from .conftest import new_id, only_on, read_topic


def test_the_services_topics_are_replicated_three_times_and_every_partition_has_a_leader(stack):
    only_on(stack, "kafka", "replication and leaders are Apache Kafka's (Tansu has one node)")
    cluster = stack.broker
    assert isinstance(cluster, KafkaCluster) and cluster.size == 3

    async def describe() -> list[dict]:
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        await admin.start()
        try:
            return await admin.describe_topics(Topics.shared())
        finally:
            await admin.close()

    for topic in asyncio.run(describe()):
        assert topic["error_code"] == 0 and len(topic["partitions"]) == 6, topic["topic"]
        assert all(len(p["replicas"]) == 3 for p in topic["partitions"]), topic["topic"]

    leaders = asyncio.run(cluster.partition_leaders(Topics.CASES))
    assert sorted(leaders) == list(range(6)) and set(leaders.values()) <= {1, 2, 3}
    assert cluster.leader_of(Topics.CASES, 0) == leaders[0]
    assert cluster.active_controller() in {1, 2, 3}
    assert all(rss and rss > 0 for rss in cluster.rss_bytes().values())


def test_an_idempotent_aiokafka_producer_gets_a_producer_id_and_delivers_each_record_once_in_order(stack):
    """KAFKA.md: aiokafka's own CI never ran idempotence against Kafka 4.x; the services do."""
    only_on(stack, "kafka", "Tansu rejects idempotent producers (InitProducerId)")
    topic = f"samenwijk.test.idempotence.{new_id()}"

    async def send() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            batch = [producer.send(topic, str(i).encode(), key=b"one-key") for i in range(200)]
            await asyncio.gather(*(await asyncio.gather(*batch)))
            return producer._txn_manager.producer_id  # noqa: SLF001 - no public accessor
        finally:
            await producer.stop()

    assert asyncio.run(send()) >= 0
    records = read_topic(stack, topic, lambda rs: len(rs) >= 200)
    assert [r.value for r in records] == [str(i).encode() for i in range(200)]
