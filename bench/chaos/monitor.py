"""Progress of each stage over time (counts sampled from the four databases once a
second), and from it the time each fault took to recover from:

- progress: from the fault until every stage counted more than at the fault (the
  pipeline moves again end to end);
- catch-up: from the fault until every stage holds at least what the submissions
  acknowledged before the fault need (the backlog the fault left is worked off)."""

import asyncio
import time
from dataclasses import dataclass

import asyncpg

# stage → (database, query): monotone counts
STAGE_QUERIES = {
    "case": ("intake", "SELECT count(*) FROM complaints"),
    "referral": ("referral", "SELECT count(*) FROM referrals"),
    "inbox": ("partners", "SELECT count(*) FROM referrals"),
    "answer": ("partners", "SELECT count(*) FROM referrals WHERE status = 'accepted'"),
    "case view": ("intake", "SELECT count(*) FROM case_parts WHERE status = 'accepted'"),
    "reporting": ("reporting", "SELECT count(*) FROM referral_facts WHERE status = 'accepted'"),
}
STAGES = tuple(STAGE_QUERIES)


@dataclass
class Sample:
    t: float
    counts: dict[str, int]


class Monitor:
    def __init__(self, dsn: "callable", interval: float = 1.0) -> None:
        self._dsn = dsn
        self.interval = interval
        self.samples: list[Sample] = []
        self.baseline: dict[str, int] = {}
        self.failed_samples = 0

    async def _count(self) -> dict[str, int]:
        out: dict[str, int] = {}
        by_db: dict[str, list[tuple[str, str]]] = {}
        for stage, (db, q) in STAGE_QUERIES.items():
            by_db.setdefault(db, []).append((stage, q))
        for db, queries in by_db.items():
            conn = await asyncpg.connect(self._dsn(db), timeout=3)
            try:
                for stage, q in queries:
                    out[stage] = await conn.fetchval(q, timeout=3)
            finally:
                await conn.close(timeout=2)
        return out

    async def set_baseline(self) -> None:
        self.baseline = await self._count()

    async def run(self) -> None:
        while True:
            t = time.monotonic()
            try:
                counts = await self._count()
                self.samples.append(Sample(t, {k: v - self.baseline.get(k, 0) for k, v in counts.items()}))
            except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                self.failed_samples += 1  # PostgreSQL is down: no sample
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

    def progress_after(self, t0: float) -> float | None:
        before = self.at(t0)
        if before is None:
            return None
        for s in self.samples:
            if s.t > t0 and all(s.counts[k] > before.counts[k] for k in STAGES):
                return s.t - t0
        return None

    def caught_up_after(self, t0: float, needed: dict[str, int]) -> float | None:
        for s in self.samples:
            if s.t >= t0 and all(s.counts[k] >= needed[k] for k in STAGES):
                return s.t - t0
        return None
