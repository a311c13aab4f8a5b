"""Progress of each stage over time (counts sampled from the four databases once a
second), and from it the time each fault took to recover from:

- progress: from the fault until every stage counted more than at the fault (the
  pipeline moves again end to end);
- catch-up: from the fault until every stage holds at least what the submissions
  acknowledged before the fault need (the backlog the fault left is worked off)."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

# stage → (database, query): monotone counts
NOT_WARM_UP = "case_id <> ALL($1::uuid[])"  # the warm-up's cases change after the start (closed)
STAGE_QUERIES = {
    "case": ("intake", f"SELECT count(*) FROM complaints WHERE {NOT_WARM_UP}"),
    "referral": ("referral", f"SELECT count(*) FROM referrals WHERE {NOT_WARM_UP}"),
    "inbox": ("partners", f"SELECT count(*) FROM referrals WHERE {NOT_WARM_UP}"),
    "answer": ("partners", f"SELECT count(*) FROM referrals WHERE status = 'accepted' AND {NOT_WARM_UP}"),
    "case view": ("intake", f"SELECT count(*) FROM case_parts WHERE status = 'accepted' AND {NOT_WARM_UP}"),
    "reporting": ("reporting",
                  f"SELECT count(*) FROM referral_facts WHERE status = 'accepted' AND {NOT_WARM_UP}"),
}
STAGES = tuple(STAGE_QUERIES)


@dataclass
class Sample:
    t: float
    counts: dict[str, int]


class Monitor:
    def __init__(self, dsn: Callable[[str], str], warm_up_cases: list[str], interval: float = 1.0) -> None:
        self._dsn = dsn
        self._exclude = [UUID(c) for c in warm_up_cases]
        self.interval = interval
        self.samples: list[Sample] = []
        self.failed_samples = 0
        self.last_error = ""

    async def _count(self) -> dict[str, int]:
        out: dict[str, int] = {}
        by_db: dict[str, list[tuple[str, str]]] = {}
        for stage, (db, q) in STAGE_QUERIES.items():
            by_db.setdefault(db, []).append((stage, q))
        for db, queries in by_db.items():
            conn = await asyncpg.connect(self._dsn(db), timeout=3)
            try:
                for stage, q in queries:
                    out[stage] = await conn.fetchval(q, self._exclude, timeout=3)
            finally:
                await conn.close(timeout=2)
        return out

    async def run(self) -> None:
        while True:
            t = time.monotonic()
            try:
                counts = await asyncio.wait_for(self._count(), 8)
                self.samples.append(Sample(t, counts))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - PostgreSQL down or restarting: no sample, go on
                self.failed_samples += 1
                self.last_error = repr(exc)
            await asyncio.sleep(max(0.0, t + self.interval - time.monotonic()))

    def at(self, t: float) -> Sample | None:
        """The last sample taken at or before t."""
        best = None
        for s in self.samples:
            if s.t <= t:
                best = s
            else:
                break
        return best

    def progress_after(self, t0: float) -> tuple[float | None, str]:
        """Seconds until every stage moved on, and the stage that took longest."""
        before = self.at(t0)
        if before is None:
            return None, ""
        moved: dict[str, float] = {}
        for s in self.samples:
            if s.t > t0:
                for k in STAGES:
                    if k not in moved and s.counts[k] > before.counts[k]:
                        moved[k] = s.t - t0
                if len(moved) == len(STAGES):
                    slowest = max(moved, key=moved.get)
                    return moved[slowest], slowest
        return None, next((k for k in STAGES if k not in moved), "")

    def caught_up_after(self, t0: float, needed: dict[str, int]) -> tuple[float | None, str]:
        done: dict[str, float] = {}
        for s in self.samples:
            if s.t >= t0:
                for k in STAGES:
                    if k not in done and s.counts[k] >= needed[k]:
                        done[k] = s.t - t0
                if len(done) == len(STAGES):
                    slowest = max(done, key=done.get)
                    return done[slowest], slowest
        return None, next((k for k in STAGES if k not in done), "")
