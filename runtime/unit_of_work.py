"""One database transaction with its outbox and processing log.

Handlers (HTTP or event) receive a UnitOfWork: they change state through `conn`, say what
happened with `publish`, and record access to personal data with `log_access`. All of it
commits together or not at all.
"""

from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from opentelemetry import trace

from contracts.envelope import Event
from runtime.outbox import OutgoingRecord, add_records, record_for


@dataclass
class AccessRecord:
    action: str
    outcome: str  # "allowed" | "denied"
    organisation_id: str
    case_id: UUID | None = None
    referral_id: UUID | None = None
    user_id: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    confidentiality: str = "confidential"
    trace_id: str | None = field(default_factory=lambda: _current_trace_id())


@dataclass
class UnitOfWork:
    conn: asyncpg.Connection
    source: str
    _records: list[OutgoingRecord] = field(default_factory=list)
    _access: list[AccessRecord] = field(default_factory=list)
    _known: list[str] = field(default_factory=list)

    def publish(self, event: Event, topic: str) -> None:
        self._records.append(record_for(event, topic, self.source))

    def publish_record(self, record: OutgoingRecord) -> None:
        self._records.append(record)

    def log_access(self, record: AccessRecord) -> None:
        self._access.append(record)

    def now_known(self, kind: str, ident: object) -> None:
        """This handler created the entity (a case, a referral): the consumer applies the
        events that arrived before it (parked, see runtime.consumer.NotYetKnown) right after."""
        self._known.append(f"{kind}:{ident}")

    def take_known(self) -> list[str]:
        known, self._known = self._known, []
        return known

    def mark(self) -> tuple[int, int, int]:
        return len(self._records), len(self._access), len(self._known)

    def rollback_to(self, mark: tuple[int, int, int]) -> None:
        """Forget what was collected after `mark` (its savepoint was rolled back)."""
        del self._records[mark[0]:]
        del self._access[mark[1]:]
        del self._known[mark[2]:]

    async def erase_case_records(self, case_id: UUID) -> int:
        """Erasure reaches the event log too: published outbox rows (and their archive) and
        dead letters of the case (keyed by its id) hold its personal data, so they go. Unpublished rows stay —
        they are still owed to the broker (case.erased itself among them)."""
        key = str(case_id).encode()
        deleted = await self.conn.fetchval(
            "WITH gone AS (DELETE FROM outbox WHERE key = $1 AND published_at IS NOT NULL RETURNING 1)"
            " SELECT count(*) FROM gone", key)
        await self.conn.execute("DELETE FROM outbox_archive WHERE key = $1", key)
        await self.conn.execute("DELETE FROM dead_letter WHERE key = $1", key)
        return deleted

    async def flush(self) -> None:
        """Write what was collected; called just before commit."""
        if self._records:
            with _tracer.start_as_current_span("outbox write", attributes={"samenwijk.outbox.rows": len(self._records)}):
                await add_records(self.conn, self._records)
            self._records.clear()
        if self._access:
            await self.conn.executemany(
                "INSERT INTO processing_log (action, outcome, organisation_id, user_id, case_id,"
                " referral_id, purpose, legal_basis, confidentiality, trace_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [
                    (a.action, a.outcome, a.organisation_id, a.user_id, a.case_id, a.referral_id,
                     a.purpose, a.legal_basis, a.confidentiality, a.trace_id)
                    for a in self._access
                ],
            )
            self._access.clear()


_tracer = trace.get_tracer("samenwijk.outbox")


def _current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
