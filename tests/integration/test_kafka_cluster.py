"""What the chaos suite relies on from the launcher, on the session's live 3-node cluster
(nothing here injects a fault: other tests share the cluster)."""

import asyncio

from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import Topics
from samenwijk_dev.kafka import KafkaCluster

from .conftest import only_on


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
