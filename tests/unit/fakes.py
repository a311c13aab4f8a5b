"""In-memory stand-ins for an asyncpg pool, enough for runtime.consumer and runtime.outbox.

FakePool keeps the inbox, dead_letter, outbox and parked_event tables as Python
collections. A connection's `transaction()` snapshots them and puts the snapshot back when
the block raises, so a failed transaction leaves no inbox claim, dead letter or outbox row
behind; a nested `transaction()` is a savepoint, done the same way.
Statements the fake does not know fail loudly, so a change in the SQL shows up here.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class OutboxRow:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class DeadLetterRow:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass
class Tables:
    inbox: dict[str, str] = field(default_factory=dict)  # event_id -> event_type
    dead_letter: list[DeadLetterRow] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    parked: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> row
    next_parked_id: int = 1
    processing_log: list[tuple[Any, ...]] = field(default_factory=list)
    data_keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # kid -> (subject, wrapped)
    erased_subjects: set[str] = field(default_factory=set)


def _normal(sql: str) -> str:
    return " ".join(sql.split())


class FakeConnection:
    def __init__(self, pool: FakePool) -> None:
        self._pool = pool
        self.in_transaction = False

    @property
    def _tables(self) -> Tables:
        return self._pool.tables

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        savepoint = self.in_transaction
        snapshot = copy.deepcopy(self._pool.tables)
        self.in_transaction = True
        try:
            yield
        except BaseException:
            self._pool.tables = snapshot
            if not savepoint:
                self._pool.rollbacks += 1
            raise
        else:
            if not savepoint:
                self._pool.commits += 1
        finally:
            self.in_transaction = savepoint

    def _require_transaction(self) -> None:
        assert self.in_transaction, "statement outside a transaction"

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self._require_transaction()
        s = _normal(sql)
        if s.startswith("INSERT INTO inbox (event_id, event_type) SELECT * FROM unnest(") and \
                "ON CONFLICT DO NOTHING RETURNING event_id" in s:
            ids, types = args
            assert len(ids) == len(types)
            rows = []
            for event_id, event_type in zip(ids, types, strict=True):
                if event_id in self._tables.inbox:
                    continue  # conflict: DO NOTHING, no row returned
                self._tables.inbox[event_id] = event_type
                rows.append({"event_id": event_id})
            return rows
        if s.startswith('SELECT id, park_key, event_id, topic, partition, "offset", key, value, headers, parked_at'):
            rows = sorted(self._tables.parked.values(), key=lambda r: (r["event_time"], r["id"]))
            if "WHERE park_key = $1" in s:
                rows = [r for r in rows if r["park_key"] == args[0]]
            elif "LIMIT $1" in s:
                rows = rows[:args[0]]
            return [{**r, "age": (self._pool.now - r["parked_at"]).total_seconds()} for r in rows]
        raise AssertionError(f"fetch not faked: {s}")

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self._require_transaction()
        s = _normal(sql)
        if s.startswith("INSERT INTO inbox (event_id, event_type) VALUES ($1, 'dead-letter')") and \
                "ON CONFLICT DO NOTHING RETURNING true" in s:
            (claim,) = args
            if claim in self._tables.inbox:
                return None
            self._tables.inbox[claim] = "dead-letter"
            return True
        if s.startswith("WITH gone AS (DELETE FROM outbox WHERE key = $1 AND published_at IS NOT NULL"):
            return 0  # the fake keeps no published rows
        if s == "SELECT wrapped FROM data_keys WHERE kid = $1":
            found = self._tables.data_keys.get(args[0])
            return found[1] if found else None
        if s == "SELECT true FROM erased_subjects WHERE subject = $1":
            return True if args[0] in self._tables.erased_subjects else None
        if s.startswith("WITH gone AS (DELETE FROM data_keys WHERE subject = $1"):
            gone = [k for k, (subject, _) in self._tables.data_keys.items() if subject == args[0]]
            for k in gone:
                del self._tables.data_keys[k]
            return len(gone)
        raise AssertionError(f"fetchval not faked: {s}")

    async def execute(self, sql: str, *args: Any) -> str:
        self._require_transaction()
        s = _normal(sql)
        if s.startswith("INSERT INTO dead_letter (topic, partition, \"offset\", key, value, reason)"):
            topic, partition, offset, key, value, reason = args
            self._tables.dead_letter.append(DeadLetterRow(topic, partition, offset, key, value, reason))
            return "INSERT 0 1"
        if s in ("DELETE FROM outbox_archive WHERE key = $1", "DELETE FROM dead_letter WHERE key = $1"):
            (key,) = args
            if "dead_letter" in s:
                self._tables.dead_letter = [d for d in self._tables.dead_letter if d.key != key]
            return "DELETE"
        if s == "DELETE FROM inbox WHERE event_id = $1":
            return f"DELETE {int(self._tables.inbox.pop(args[0], None) is not None)}"
        if s.startswith("INSERT INTO parked_event (park_key, event_id, event_type, event_time, topic, partition,"):
            (park_key, event_id, event_type, event_time, topic, partition, offset, key, value, headers,
             reason) = args
            if any(r["event_id"] == event_id for r in self._tables.parked.values()):
                return "INSERT 0 0"
            row_id, self._tables.next_parked_id = self._tables.next_parked_id, self._tables.next_parked_id + 1
            self._tables.parked[row_id] = {
                "id": row_id, "park_key": park_key, "event_id": event_id, "event_type": event_type,
                "event_time": event_time, "topic": topic, "partition": partition, "offset": offset, "key": key,
                "value": value, "headers": dict(headers), "reason": reason, "attempts": 0,
                "parked_at": self._pool.clock()}
            return "INSERT 0 1"
        if s == "DELETE FROM parked_event WHERE id = $1":
            return f"DELETE {int(self._tables.parked.pop(args[0], None) is not None)}"
        if s.startswith("UPDATE parked_event SET park_key = $2, reason = $3, attempts = attempts + 1 WHERE id = $1"):
            row = self._tables.parked[args[0]]
            row.update(park_key=args[1], reason=args[2], attempts=row["attempts"] + 1)
            return "UPDATE 1"
        if s == "INSERT INTO erased_subjects (subject) VALUES ($1) ON CONFLICT DO NOTHING":
            self._tables.erased_subjects.add(args[0])
            return "INSERT 0 1"
        if s == "DELETE FROM parked_event WHERE key = $1":
            gone = [i for i, r in self._tables.parked.items() if r["key"] == args[0]]
            for i in gone:
                del self._tables.parked[i]
            return f"DELETE {len(gone)}"
        if s.startswith("INSERT INTO data_keys (kid, subject, key_class, wrapped) VALUES ($1, $2, $3, $4)"
                        " ON CONFLICT (kid) DO NOTHING"):
            kid, subject, _, wrapped = args
            self._tables.data_keys.setdefault(kid, (subject, wrapped))
            return "INSERT 0 1"
        raise AssertionError(f"execute not faked: {s}")

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._require_transaction()
        s = _normal(sql)
        if s.startswith("INSERT INTO outbox (topic, key, value, headers)"):
            for topic, key, value, headers in rows:
                self._tables.outbox.append(OutboxRow(topic, key, value, dict(headers)))
            return
        if s.startswith("INSERT INTO processing_log ("):
            self._tables.processing_log.extend(rows)
            return
        raise AssertionError(f"executemany not faked: {s}")


class FakePool:
    def __init__(self) -> None:
        self.tables = Tables()
        self.commits = 0
        self.rollbacks = 0
        self.now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # parked_at; tests move it on

    def clock(self) -> datetime:
        return self.now

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self)

    # Views of the committed state, for assertions.
    @property
    def inbox(self) -> dict[str, str]:
        return self.tables.inbox

    @property
    def dead_letters(self) -> list[DeadLetterRow]:
        return self.tables.dead_letter

    @property
    def outbox(self) -> list[OutboxRow]:
        return self.tables.outbox

    @property
    def parked(self) -> list[dict[str, Any]]:
        return sorted(self.tables.parked.values(), key=lambda r: r["id"])
