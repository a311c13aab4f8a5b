"""In-memory stand-ins for an asyncpg pool, enough for runtime.consumer and runtime.outbox.

FakePool keeps the inbox, dead_letter and outbox tables as Python collections. A
connection's `transaction()` snapshots them and puts the snapshot back when the block
raises, so a failed transaction leaves no inbox claim, dead letter or outbox row behind.
Statements the fake does not know fail loudly, so a change in the SQL shows up here.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
        assert not self.in_transaction, "nested transactions are not faked"
        snapshot = copy.deepcopy(self._pool.tables)
        self.in_transaction = True
        try:
            yield
        except BaseException:
            self._pool.tables = snapshot
            self._pool.rollbacks += 1
            raise
        else:
            self._pool.commits += 1
        finally:
            self.in_transaction = False

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
        raise AssertionError(f"fetchval not faked: {s}")

    async def execute(self, sql: str, *args: Any) -> str:
        self._require_transaction()
        s = _normal(sql)
        if s.startswith("INSERT INTO dead_letter (topic, partition, \"offset\", key, value, reason)"):
            topic, partition, offset, key, value, reason = args
            self._tables.dead_letter.append(DeadLetterRow(topic, partition, offset, key, value, reason))
            return "INSERT 0 1"
        raise AssertionError(f"execute not faked: {s}")

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._require_transaction()
        s = _normal(sql)
        if s.startswith("INSERT INTO outbox (topic, key, value, headers)"):
            for topic, key, value, headers in rows:
                self._tables.outbox.append(OutboxRow(topic, key, value, dict(headers)))
            return
        raise AssertionError(f"executemany not faked: {s}")


class FakePool:
    def __init__(self) -> None:
        self.tables = Tables()
        self.commits = 0
        self.rollbacks = 0

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
