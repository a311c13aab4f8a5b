"""One database transaction with its outbox and processing log.

Handlers (HTTP or event) receive a UnitOfWork: they change state through `conn`, say what
happened with `publish`, and record access to personal data with `log_access`. All of it
commits together or not at all.
"""

from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from opentelemetry import trace

from contracts.envelope import CONTENT_TYPE, Event, encode, encode_data
from contracts.personal import sealing_for
from runtime.outbox import OutgoingRecord, add_records
from runtime.sealing import KeyStore, seal_data, split_personal
from runtime.telemetry import current_traceparent


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


@dataclass(frozen=True)
class _Outgoing:
    """An event to write at flush, when its personal fields are sealed (which needs the
    database: the case's data key). The trace context is the one at `publish`."""

    event: Event
    topic: str
    headers: dict[str, str]


@dataclass
class UnitOfWork:
    conn: asyncpg.Connection
    source: str
    keys: KeyStore | None = None  # None only where nothing personal is published
    _records: list[OutgoingRecord | _Outgoing] = field(default_factory=list)
    _access: list[AccessRecord] = field(default_factory=list)
    _known: list[str] = field(default_factory=list)

    def publish(self, event: Event, topic: str) -> None:
        self._records.append(_Outgoing(event, topic, {"content-type": CONTENT_TYPE, **current_traceparent()}))

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
        await self.conn.execute("DELETE FROM parked_event WHERE key = $1", key)  # nothing to wait for now
        if self.keys is not None:  # crypto-shredding: every copy elsewhere becomes unreadable
            await self.keys.shred(self.conn, str(case_id))
        return deleted

    async def _encode(self, event: Event, topic: str) -> bytes:
        """The record value: personal fields (contracts/personal.py) sealed under the data key
        of the case; once the case is erased they are left out altogether."""
        sealing = sealing_for(event.event_type, topic)
        if sealing is None:
            return encode(event, self.source)
        data = event.model_dump(mode="json", exclude_none=True)
        data.pop("sealed", None)
        clear, personal = split_personal(data, sealing)
        if not personal:
            return encode_data(event, clear, self.source)
        if self.keys is None:
            raise RuntimeError(f"{event.type_name()} has personal fields; this unit of work has no key store")
        subject = event.subject()
        found = await self.keys.key_for(self.conn, sealing.key_class, subject)
        if found is None:  # erased: what is left of the event goes without them
            return encode_data(event, clear, self.source)
        kid, key = found
        sealed = seal_data(clear, personal, key=key, kid=kid, event_type=event.type_name(), subject=subject)
        return encode_data(event, sealed, self.source)

    async def _outgoing(self) -> list[OutgoingRecord]:
        out = []
        for r in self._records:
            if isinstance(r, _Outgoing):
                r = OutgoingRecord(r.topic, r.event.subject().encode(), await self._encode(r.event, r.topic), r.headers)
            out.append(r)
        return out

    async def flush(self) -> None:
        """Write what was collected; called just before commit."""
        if self._records:
            with _tracer.start_as_current_span("outbox write", attributes={"samenwijk.outbox.rows": len(self._records)}):
                await add_records(self.conn, await self._outgoing())
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
