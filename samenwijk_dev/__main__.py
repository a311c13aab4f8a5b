"""`python -m samenwijk_dev run|clean|trace` — what `make run`, `make clean` and `make trace` call."""

import argparse
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import httpx

from samenwijk_dev import demo
from samenwijk_dev.postgres import EmbeddedPostgres
from samenwijk_dev.stack import DEFAULT_PORTS, REPO, SERVICES, Stack

RUN_DIR = REPO / ".run"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"SAMENWIJK_{name.upper()}_PORT", default))


def make_stack() -> Stack:
    return Stack(RUN_DIR, broker_port=_port("broker", 9092), pg_port=_port("pg", 15432),
                 service_ports={s: _port(s, DEFAULT_PORTS[s]) for s in SERVICES})


def run() -> int:
    stack = make_stack()
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        print(f"starting Tansu on 127.0.0.1:{stack.broker_port} and PostgreSQL on 127.0.0.1:{stack.pg_port} …", flush=True)
        stack.start()
        for name in SERVICES:
            print(f"  {name:<10} {stack.url(name)}  (OpenAPI: {stack.url(name)}/docs)", flush=True)
        tokens = demo.dev_tokens(stack.jwt_secret)
        demo.write_dev_tokens(RUN_DIR / "dev-tokens.json", tokens)
        print(f"  dev tokens  {RUN_DIR / 'dev-tokens.json'}", flush=True)
        demo.run({n: stack.url(n) for n in SERVICES}, f"127.0.0.1:{stack.broker_port}", tokens,
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


def trace(case_id: str, file: Path) -> int:
    from samenwijk_dev.trace import load_case_spans, render

    print("\n".join(render(load_case_spans(file, case_id))))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="samenwijk_dev")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="embedded stack + demo, until Ctrl-C")
    sub.add_parser("clean", help="remove all local state")
    t = sub.add_parser("trace", help="print the span tree of one case")
    t.add_argument("case_id")
    t.add_argument("--file", type=Path, default=RUN_DIR / "traces.jsonl")
    args = parser.parse_args()
    if args.command == "trace":
        return trace(args.case_id, args.file)
    return {"run": run, "clean": clean}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
