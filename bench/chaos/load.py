"""The corporation's client: POST /v1/cases on an open-loop schedule, each with its own
Idempotency-Key, retried with the same key after a dropped connection, a timeout, a 5xx
or a 429 (so a retry can never open a second case). Repeats of a unit wait for the
previous complaint's answer, as a corporation's system would."""

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable

import httpx

from bench.chaos.plan import Submission, Unit, body

RETRYABLE = {409, 429, 500, 502, 503, 504}
# httpcore's pool scans every queued request against every connection on each change:
# thousands of requests queued while intake is down made the harness itself CPU-bound
# (quadratic). Requests beyond this many in flight wait here instead, cheaply.
IN_FLIGHT = 64


class Load:
    def __init__(self, intake_url: Callable[[], str], token: str, units: list[Unit], run_tag: str,
                 give_up_s: float = 180) -> None:
        self._url = intake_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self.units = units
        self.run_tag = run_tag
        self.give_up_s = give_up_s
        self.retries: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()  # every answer seen, e.g. "503 application/problem+json"
        self.client_errors: list[str] = []  # 4xx that are not a retry signal: a bug on one side
        self.started: float | None = None
        self.done = asyncio.Event()
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        self.max_queue_s = 0.0  # the longest a submission waited for a free slot (client backlog)

    @property
    def submissions(self) -> list[Submission]:
        return [s for u in self.units for s in u.submissions]

    def acked(self, before: float | None = None) -> list[Submission]:
        return [s for s in self.submissions if s.acked_at is not None and (before is None or s.acked_at <= before)]

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(15, connect=3)) as client:
            self.started = time.monotonic()
            await asyncio.gather(*(self._unit(client, u) for u in self.units))
        self.done.set()

    async def _unit(self, client: httpx.AsyncClient, unit: Unit) -> None:
        for sub in unit.submissions:
            assert self.started is not None
            await asyncio.sleep(max(0.0, self.started + sub.due - time.monotonic()))
            await self._submit(client, sub)
            if sub.acked_at is None:
                return  # a repeat without its first complaint would open a case of its own

    async def _submit(self, client: httpx.AsyncClient, sub: Submission) -> None:
        payload = body(self.run_tag, sub)
        headers = {**self._headers, "Idempotency-Key": sub.key}
        first = time.monotonic()
        backoff = 0.2
        while True:
            sub.attempts += 1
            reason = None
            try:
                queued = time.monotonic()
                async with self._in_flight:
                    self.max_queue_s = max(self.max_queue_s, time.monotonic() - queued)
                    r = await client.post(self._url() + "/v1/cases", json=payload, headers=headers)
                kind = r.headers.get("content-type", "").split(";")[0]
                self.statuses[f"{r.status_code} {kind}"] += 1
                if r.status_code == 201:
                    sub.case_id = r.json()["case_id"]
                    sub.acked_at = time.monotonic()
                    return
                if r.status_code not in RETRYABLE:
                    self.client_errors.append(f"#{sub.index}: {r.status_code} {r.text[:200]}")
                    sub.gave_up = f"{r.status_code}"
                    return
                reason = f"{r.status_code}"
                if r.headers.get("retry-after", "").isdigit():
                    backoff = max(backoff, float(r.headers["retry-after"]))
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            self.retries[reason] += 1
            sub.retry_reasons[reason] = sub.retry_reasons.get(reason, 0) + 1
            if time.monotonic() - first > self.give_up_s:
                sub.gave_up = reason
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 2.0)
