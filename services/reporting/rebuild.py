"""`python -m services.reporting.rebuild` — rebuild reporting's projections from the event
log and show the progress (what `make rebuild-reporting` runs against `make run`)."""

import argparse
import json
import sys
import time
from pathlib import Path

import httpx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8004")
    parser.add_argument("--token", help="an admin bearer token (default: from .run/dev-tokens.json)")
    args = parser.parse_args()
    token = args.token or json.loads(Path(".run/dev-tokens.json").read_text())["samenwijk-beheer"]
    headers = {"Authorization": f"Bearer {token}"}
    started = httpx.post(f"{args.url}/v1/admin/rebuild", headers=headers)
    if started.status_code not in (202, 409):
        print(f"could not start: {started.status_code} {started.text}", file=sys.stderr)
        return 1
    while True:
        p = httpx.get(f"{args.url}/v1/admin/rebuild", headers=headers).json()
        share = p["events"] / p["total"] if p["total"] else 1.0
        print(f"\r{p['state']:<8} {p['events']:>9}/{p['total']:<9} [{'#' * int(30 * share):<30}]", end="", flush=True)
        if p["state"] in ("done", "failed"):
            print()
            if p["state"] == "failed":
                print(f"rebuild failed: {p['error']}", file=sys.stderr)
                return 1
            print(f"rebuilt from {p['events']} events at {p['events_per_second']} events/s")
            return 0
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
