"""The Apache Kafka launcher's configuration and its 'can Kafka run here' answer (no JVM
started here: the integration tests run the real cluster)."""

import base64
import json
from pathlib import Path

import pytest

from samenwijk_dev import kafka
from samenwijk_dev.kafka import KafkaCluster, new_cluster_id
from samenwijk_dev.stack import Tansu


def test_a_cluster_id_is_22_base64url_characters_of_16_bytes_never_starting_with_a_dash():
    for _ in range(200):
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_three_nodes_replicate_three_times_with_two_in_sync_and_know_every_voter(tmp_path: Path):
    cluster = KafkaCluster(tmp_path, nodes=3, ports=[(9101, 9201), (9102, 9202), (9103, 9203)])
    configs = [n.config for n in cluster.nodes]
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert {c["controller.quorum.voters"] for c in configs} == {"1@127.0.0.1:9201,2@127.0.0.1:9202,3@127.0.0.1:9203"}
    for c in configs:
        assert c["default.replication.factor"] == c["offsets.topic.replication.factor"] == "3"
        assert c["min.insync.replicas"] == c["transaction.state.log.min.isr"] == "2"
        assert c["unclean.leader.election.enable"] == "false"
        assert c["listeners"].count("127.0.0.1") == 2 and "0.0.0.0" not in json.dumps(c)
    assert cluster.bootstrap == "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103"


def test_one_node_replicates_once(tmp_path: Path):
    cluster = KafkaCluster(tmp_path, nodes=1)
    (node,) = cluster.nodes
    assert node.config["default.replication.factor"] == node.config["min.insync.replicas"] == "1"
    assert cluster.service_env()["SAMENWIJK_KAFKA_REPLICATION_FACTOR"] == "1"


def test_services_run_idempotent_on_kafka_and_not_on_tansu(tmp_path: Path):
    on_kafka = KafkaCluster(tmp_path, nodes=3).service_env()
    on_tansu = Tansu(9092, tmp_path / "log").service_env()
    assert on_kafka["SAMENWIJK_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert on_tansu["SAMENWIJK_KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    # Kafka answers a waiting fetch when data arrives; Tansu only when the wait ends
    assert int(on_kafka["SAMENWIJK_KAFKA_FETCH_MAX_WAIT_MS"]) > int(on_tansu["SAMENWIJK_KAFKA_FETCH_MAX_WAIT_MS"])


def test_without_java_the_reason_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kafka.shutil, "which", lambda _name: None)
    assert "no `java`" in (kafka.unavailable_reason() or "")


def test_without_the_jars_the_reason_names_make_kafka(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SAMENWIJK_KAFKA_HOME", str(tmp_path))
    if kafka._java_major() is None:
        pytest.skip("no java here: the previous test covers that case")
    assert "make kafka" in (kafka.unavailable_reason() or "")


def test_the_active_controller_is_the_leader_of_the_highest_epoch(tmp_path: Path):
    cluster = KafkaCluster(tmp_path, nodes=3)
    for node, (leader, epoch) in zip(cluster.nodes, [(1, 2), (2, 3), (2, 3)], strict=True):
        state = node.data_dir / "__cluster_metadata-0" / "quorum-state"
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"leaderId": leader, "leaderEpoch": epoch}))
    assert cluster.active_controller() == 2
