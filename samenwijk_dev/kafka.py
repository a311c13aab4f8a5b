"""Apache Kafka as a KRaft cluster on 127.0.0.1, from the Maven Central jars that
`make kafka` fetches (kafka/pom.xml) into ~/.cache/samenwijk/kafka-<version>/libs.

One node (RF 1) or three combined broker+controller nodes (RF 3, min.insync.replicas 2).
Shared by `make run BROKER=kafka`, the integration tests and the benchmarks; the chaos
suite drives single nodes through `KafkaNode.kill/pause/resume/restart` and asks who
leads a partition or the metadata quorum.
"""

import asyncio
import base64
import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from samenwijk_dev.postgres import free_port

KAFKA_VERSION = "4.4.0"
REPO = Path(__file__).resolve().parent.parent
POM = REPO / "kafka" / "pom.xml"
# Small-box JVM: Kafka's scripts default to a 1 GiB heap and G1. TieredStopAtLevel=1
# starts faster; benchmarks can drop it through SAMENWIJK_KAFKA_JVM_OPTS.
JVM_OPTS = "-Xms128m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -XX:TieredStopAtLevel=1"
# Benchmarks: full JIT (C2) — slower to start, faster once warm.
BENCH_JVM_OPTS = JVM_OPTS.replace(" -XX:TieredStopAtLevel=1", "")
STOP_GRACE_S = 10  # then SIGKILL: without a quorum a broker waits minutes for controlled shutdown

T = TypeVar("T")


def kafka_home() -> Path:
    if os.environ.get("SAMENWIJK_KAFKA_HOME"):
        return Path(os.environ["SAMENWIJK_KAFKA_HOME"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "samenwijk" / f"kafka-{KAFKA_VERSION}"


def libs_dir() -> Path:
    return kafka_home() / "libs"


def _java_major() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    out = subprocess.run([java, "-XshowSettings:properties", "-version"], capture_output=True, text=True, check=False)
    for line in out.stderr.splitlines():
        if "java.specification.version" in line:
            return int(line.split("=")[1].strip().split(".")[0])
    return None


def unavailable_reason() -> str | None:
    """Why Apache Kafka cannot run here, or None when it can."""
    major = _java_major()
    if major is None:
        return "no `java` on PATH (Apache Kafka needs Java 17+)"
    if major < 17:
        return f"Java {major} found; the Kafka {KAFKA_VERSION} broker needs Java 17+"
    if not (libs_dir() / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return f"Kafka {KAFKA_VERSION} jars not in {libs_dir()} (run `make kafka`; it needs Maven)"
    return None


def fetch_jars() -> Path:
    """The jars from Maven Central through kafka/pom.xml (what `make kafka` runs)."""
    home = kafka_home()
    if (home / "libs" / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return home / "libs"
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("no `mvn` on PATH: install Maven to fetch the Kafka jars")
    tmp = home / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([mvn, "-B", "-q", "-f", str(POM), f"-Dmaven.repo.local={home / 'm2'}",
                    f"-Dkafka.version={KAFKA_VERSION}", "dependency:copy-dependencies",
                    "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"], check=True)
    tmp.rename(home / "libs")  # only a complete set counts as fetched
    return home / "libs"


def new_cluster_id() -> str:
    """22 characters of base64url of 16 random bytes, never starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


LOG4J = """\
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
# keeps the line "Kafka Server started" (start-up time) at WARN for the rest
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
"""


@dataclass
class KafkaNode:
    node_id: int
    broker_port: int
    controller_port: int
    dir: Path
    config: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started_s: float | None = None  # wall time of the last start until the client port opened
    paused: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def properties(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k}={v}" for k, v in self.config.items()]
        self.properties.write_text("\n".join(lines) + "\n")
        (self.dir / "log4j2.properties").write_text(LOG4J)

    def _java(self, main: str, *args: str) -> list[str]:
        opts = os.environ.get("SAMENWIJK_KAFKA_JVM_OPTS", JVM_OPTS).split()
        return [shutil.which("java") or "java", *opts, "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                "-cp", f"{libs_dir()}/*", main, *args]

    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").exists()

    def format_cmd(self, cluster_id: str) -> list[str]:
        # With static controller.quorum.voters neither --standalone nor --initial-controllers.
        return self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                          "-c", str(self.properties), "--ignore-formatted")

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self._t0 = time.monotonic()
        self.started_s = None
        self.paused = False
        self.proc = subprocess.Popen(self._java("kafka.Kafka", str(self.properties)),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def ready(self) -> bool:
        """The client port opens only once the broker is unfenced: a real readiness check."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        if _port_open(self.broker_port):
            if self.started_s is None:
                self.started_s = time.monotonic() - self._t0
            return True
        return False

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"kafka node {self.node_id} exited "
                                   f"({None if self.proc is None else self.proc.returncode}); see {self.log_path}")
            time.sleep(0.1)
        raise TimeoutError(f"kafka node {self.node_id} not ready after {timeout}s; see {self.log_path}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM (controlled shutdown), SIGKILL after STOP_GRACE_S."""
        if not self.alive:
            self.proc = None
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)  # a paused node cannot act on SIGTERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, nothing flushed."""
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the node stays a member but answers nothing (past its session timeout, it is fenced)."""
        assert self.proc is not None and self.alive, f"kafka node {self.node_id} is not running"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None and self.alive, f"kafka node {self.node_id} is not running"
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self, wait: bool = True) -> None:
        """Start again on the same ports and data (after kill() or stop())."""
        if self.alive:
            self.stop()
        self.start()
        if wait:
            self.wait_ready()

    def rss_bytes(self) -> int | None:
        if not self.alive:
            return None
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def quorum_state(self) -> dict[str, Any] | None:
        """This node's own view of the metadata quorum (leaderId, leaderEpoch), from the
        file KRaft rewrites on every election; readable even while the node is paused."""
        path = self.data_dir / "__cluster_metadata-0" / "quorum-state"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None


class KafkaCluster:
    """A KRaft cluster of 1 or 3 combined broker+controller nodes on 127.0.0.1."""

    kind = "kafka"

    def __init__(self, run_dir: Path, nodes: int = 3, ports: list[tuple[int, int]] | None = None,
                 overrides: dict[str, str] | None = None) -> None:
        assert nodes in (1, 3), "1 node (RF 1) or 3 nodes (RF 3, min ISR 2)"
        self.run_dir = run_dir
        self.size = nodes
        self.fixed_ports = ports
        self.overrides = overrides or {}
        self.nodes: list[KafkaNode] = []
        self.start_s: float | None = None
        self._layout(ports or self._free_ports())

    # -- configuration -------------------------------------------------------------------

    @property
    def replication_factor(self) -> int:
        return 3 if self.size == 3 else 1

    @property
    def min_insync_replicas(self) -> int:
        return 2 if self.size == 3 else 1

    def _free_ports(self) -> list[tuple[int, int]]:
        return [(free_port(), free_port()) for _ in range(self.size)]

    def _layout(self, ports: list[tuple[int, int]]) -> None:
        voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
        rf, isr = str(self.replication_factor), str(self.min_insync_replicas)
        self.nodes = []
        for i, (b, c) in enumerate(ports):
            config = {
                "process.roles": "broker,controller",
                "node.id": str(i + 1),
                "controller.quorum.voters": voters,
                "controller.listener.names": "CONTROLLER",
                "listeners": f"PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{b}",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs": str(self.run_dir / f"node-{i + 1}" / "data"),
                "default.replication.factor": rf,
                "min.insync.replicas": isr,
                "offsets.topic.replication.factor": rf,
                # 50 offset partitions x RF 3 make the first group join slow on a small box.
                "offsets.topic.num.partitions": "10",
                "transaction.state.log.replication.factor": rf,
                "transaction.state.log.min.isr": isr,
                "transaction.state.log.num.partitions": "10",
                "share.coordinator.state.topic.replication.factor": rf,
                "share.coordinator.state.topic.min.isr": isr,
                "group.initial.rebalance.delay.ms": "0",
                # The services run 2 s sessions (fast rebalances); the broker's floor is 6 s.
                "group.min.session.timeout.ms": "1000",
                # The 128 MiB default is allocated on the heap at start: a small-heap OOM.
                "log.cleaner.dedupe.buffer.size": "2097152",
                "unclean.leader.election.enable": "false",
                "num.network.threads": "2",
                "num.io.threads": "2",
                "num.replica.fetchers": "1",
                "num.recovery.threads.per.data.dir": "1",
                "background.threads": "2",
                "auto.create.topics.enable": "true",
                **self.overrides,
            }
            self.nodes.append(KafkaNode(i + 1, b, c, self.run_dir / f"node-{i + 1}", config))

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def proc(self) -> subprocess.Popen | None:
        """The first node's process (what single-broker code such as bench/ samples)."""
        return self.nodes[0].proc

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [n.proc for n in self.nodes if n.proc is not None]

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    # -- lifecycle -----------------------------------------------------------------------

    def _cluster_id(self) -> str:
        path = self.run_dir / "cluster-id"
        if not path.exists():
            path.write_text(new_cluster_id())
        return path.read_text().strip()

    def _format(self) -> None:
        cid = self._cluster_id()
        procs = []
        for n in self.nodes:
            n.write_config()
            if not n.formatted():
                procs.append((n, subprocess.Popen(n.format_cmd(cid), stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT)))
        for n, p in procs:
            out, _ = p.communicate(timeout=120)
            if p.returncode != 0:
                raise RuntimeError(f"formatting kafka node {n.node_id} failed: {out.decode(errors='replace')[-2000:]}")

    def start(self, timeout: float = 300, attempts: int = 3) -> None:
        """Format (first time) and start every node at once: none finishes starting
        without a controller quorum. A port taken meanwhile shows up seconds late as a
        node that exits or never opens its port: then try again on new ports. The timeout
        is generous: on a saturated 2-core box a quorum took 95 s (5 s when quiet)."""
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            t0 = time.monotonic()
            self._format()
            for n in self.nodes:
                n.start()
            try:
                deadline = time.monotonic() + timeout
                for n in self.nodes:
                    n.wait_ready(max(1.0, deadline - time.monotonic()))
                self.start_s = time.monotonic() - t0
                self._record()
                return
            except (RuntimeError, TimeoutError) as exc:
                self.stop()
                clash = any("Address already in use" in n.log_path.read_text(errors="replace")
                            for n in self.nodes if n.log_path.exists())
                if self.fixed_ports or attempt == attempts or not clash:
                    raise RuntimeError(f"Apache Kafka did not start: {exc}") from exc
                shutil.rmtree(self.run_dir, ignore_errors=True)
                self.run_dir.mkdir(parents=True)
                self._layout(self._free_ports())

    def _record(self) -> None:
        (self.run_dir / "cluster.json").write_text(json.dumps({
            "version": KAFKA_VERSION, "bootstrap": self.bootstrap,
            "nodes": [{"id": n.node_id, "broker": n.broker_port, "controller": n.controller_port,
                       "pid": n.proc.pid if n.proc else None} for n in self.nodes],
        }, indent=2))

    def stop(self) -> None:
        """Every node at once (one at a time, the last ones would wait for a quorum)."""
        for n in self.nodes:
            if n.alive:
                assert n.proc is not None
                n.proc.send_signal(signal.SIGCONT)
                n.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for n in self.nodes:
            if n.proc is None:
                continue
            try:
                n.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait()
            n.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- what the chaos suite asks -------------------------------------------------------

    def active_controller(self) -> int | None:
        """The metadata quorum's leader, by the highest epoch any node recorded."""
        best: tuple[int, int] | None = None
        for n in self.nodes:
            state = n.quorum_state()
            if state and state.get("leaderId", -1) >= 0:
                epoch = int(state.get("leaderEpoch", -1))
                if best is None or epoch > best[0]:
                    best = (epoch, int(state["leaderId"]))
        return None if best is None else best[1]

    async def partition_leaders(self, topic: str) -> dict[int, int]:
        """partition → leader node id, as the cluster's metadata says now (asked of a
        running, unpaused node: a paused one accepts connections but never answers)."""
        from aiokafka import AIOKafkaClient

        client = AIOKafkaClient(bootstrap_servers=[n.bootstrap for n in self.nodes if n.alive and not n.paused],
                                request_timeout_ms=10_000)
        await client.bootstrap()
        try:
            await client.force_metadata_update()
            leaders = {}
            for p in client.cluster.partitions_for_topic(topic) or ():
                from aiokafka.structs import TopicPartition

                leader = client.cluster.leader_for_partition(TopicPartition(topic, p))
                if leader is not None and leader >= 0:
                    leaders[p] = leader
            return leaders
        finally:
            await client.close()

    def leader_of(self, topic: str, partition: int = 0) -> int | None:
        return _run_sync(self.partition_leaders(topic)).get(partition)

    def rss_bytes(self) -> dict[int, int | None]:
        return {n.node_id: n.rss_bytes() for n in self.nodes}

    async def warm_up(self, timeout: float = 60) -> None:
        """Create the internal topics while every node is up (RF 3 needs all three the
        first time): one idempotent producer and one consumer-group join with a commit."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        topic = "samenwijk.dev.warmup"
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, b"warm-up"), timeout)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap, group_id="samenwijk-dev-warmup",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            await asyncio.wait_for(consumer.getone(), timeout)
            await consumer.commit()
        finally:
            await consumer.stop()

    def service_env(self) -> dict[str, str]:
        """What the services set differently on Apache Kafka."""
        return {
            "SAMENWIJK_KAFKA_ENABLE_IDEMPOTENCE": "true",
            # Kafka answers a waiting fetch as soon as data arrives: a long wait costs nothing.
            "SAMENWIJK_KAFKA_FETCH_MAX_WAIT_MS": "500",
            "SAMENWIJK_KAFKA_REPLICATION_FACTOR": str(self.replication_factor),
        }
