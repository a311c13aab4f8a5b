"""`python -m samenwijk_dev run|clean|trace|secrets` — what `make run`, `make clean` and `make trace`
call, and fresh secrets for a deployment."""

import argparse
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import httpx

from samenwijk_dev import demo
from samenwijk_dev.kafka import KAFKA_VERSION, KafkaCluster, fetch_jars, unavailable_reason
from samenwijk_dev.postgres import EmbeddedPostgres
from samenwijk_dev.stack import BROKERS, DEFAULT_PORTS, REPO, SERVICES, Stack

RUN_DIR = REPO / ".run"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"SAMENWIJK_{name.upper()}_PORT", default))


def make_stack(broker: str = "tansu", kafka_nodes: int = 3) -> Stack:
    base = _port("broker", 9092)
    kafka_ports = None
    if broker == "kafka":
        # Fixed ports (9092.. for clients, 9192.. for the controllers) and data kept in
        # .run/kafka between runs, like a real cluster; a different node count starts afresh.
        kafka_ports = [(base + i, base + 100 + i) for i in range(kafka_nodes)]
        layout = RUN_DIR / "kafka" / "layout"
        if layout.exists() and layout.read_text() != str(kafka_ports):
            shutil.rmtree(RUN_DIR / "kafka")
        layout.parent.mkdir(parents=True, exist_ok=True)
        layout.write_text(str(kafka_ports))
    return Stack(RUN_DIR, broker_port=base, pg_port=_port("pg", 15432),
                 service_ports={s: _port(s, DEFAULT_PORTS[s]) for s in SERVICES},
                 broker_kind=broker, kafka_nodes=kafka_nodes, kafka_ports=kafka_ports)


def run(broker: str = "tansu", kafka_nodes: int = 3) -> int:
    stack = make_stack(broker, kafka_nodes)
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        what = ("Tansu" if broker == "tansu" else
                f"Apache Kafka {KAFKA_VERSION} ({kafka_nodes} KRaft node{'s' if kafka_nodes > 1 else ''})")
        print(f"starting {what} on {stack.bootstrap} and PostgreSQL on 127.0.0.1:{stack.pg_port} …", flush=True)
        stack.start()
        if isinstance(stack.broker, KafkaCluster):
            rss = ", ".join(f"{(b or 0) // 2**20} MiB" for b in stack.broker.rss_bytes().values())
            print(f"  kafka       up in {stack.broker.start_s:.1f} s; RSS per node: {rss}; "
                  f"logs in {stack.broker.run_dir}", flush=True)
        for name in SERVICES:
            print(f"  {name:<10} {stack.url(name)}  (OpenAPI: {stack.url(name)}/docs)", flush=True)
        tokens = demo.dev_tokens(stack.jwt_signing_key)
        demo.write_dev_tokens(RUN_DIR / "dev-tokens.json", tokens)
        print(f"  dev tokens  {RUN_DIR / 'dev-tokens.json'}", flush=True)
        demo.run({n: stack.url(n) for n in SERVICES}, stack.bootstrap, tokens,
                 out=lambda line: print(line, flush=True))
        print("\nsamenwijk ready — Ctrl-C stops everything", flush=True)
        while not stopping.wait(1):
            for name, svc in stack.services.items():
                if svc.proc is not None and svc.proc.poll() is not None:
                    print(f"{name} exited ({svc.proc.returncode}); see {svc.log_path}", flush=True)
                    return 1
        return 0
    except (httpx.HTTPError, TimeoutError, RuntimeError) as exc:
        print(f"make run failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stopping …", flush=True)
        stack.stop()


def clean() -> int:
    try:  # its data may live outside .run/ (root, repo the postgres user cannot reach)
        EmbeddedPostgres(RUN_DIR / "pg" / "data", 0).destroy()
    except RuntimeError:
        pass
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    print("removed local state (.run/)")
    return 0


def kafka_jars(check: bool) -> int:
    if not check:
        print(f"Apache Kafka {KAFKA_VERSION} jars in {fetch_jars()}")
    reason = unavailable_reason()
    if reason:
        print(f"Apache Kafka cannot run here: {reason}")
    return 0 if check or reason is None else 1


def trace(case_id: str, file: Path) -> int:
    from samenwijk_dev.trace import load_case_spans, render

    print("\n".join(render(load_case_spans(file, case_id))))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="samenwijk_dev")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="embedded stack + demo, until Ctrl-C")
    r.add_argument("--broker", choices=BROKERS, default=os.environ.get("BROKER") or "tansu")
    r.add_argument("--kafka-nodes", type=int, choices=(1, 3), default=3)
    k = sub.add_parser("kafka-jars", help="fetch the Apache Kafka jars from Maven Central (make kafka)")
    k.add_argument("--check", action="store_true", help="only say whether Kafka can run here")
    sub.add_parser("clean", help="remove all local state")
    t = sub.add_parser("trace", help="print the span tree of one case")
    t.add_argument("case_id")
    t.add_argument("--file", type=Path, default=RUN_DIR / "traces.jsonl")
    k = sub.add_parser("secrets", help="fresh secrets: an .env for compose (stdout), or --kubernetes DIR")
    k.add_argument("--kubernetes", type=Path, metavar="DIR", help="write the overlay's secrets/*.env files here")
    args = parser.parse_args()
    if args.command == "trace":
        return trace(args.case_id, args.file)
    if args.command == "secrets":
        from samenwijk_dev import secrets

        if args.kubernetes:
            for path in secrets.write_kubernetes(args.kubernetes):
                print(f"wrote {path}", file=sys.stderr)
        else:
            print(secrets.compose_env(), end="")
        return 0
    if args.command == "run":
        return run(args.broker, args.kafka_nodes)
    if args.command == "kafka-jars":
        return kafka_jars(args.check)
    return clean()


if __name__ == "__main__":
    sys.exit(main())
