"""Events on `samenwijk.signals`, produced by reporting. A signal names its evidence, never a person."""

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from contracts.envelope import Event


class SignalDetected(Event):
    event_type = "signal.detected"

    signal_id: UUID
    kind: str = Field(description="hotspot | stuck | silent_decline | arrears_trend")
    scope: str = Field(description="where: a buurt code (also for a hotspot: never the building) or a customer group")
    buurt_code: str | None = None
    period_start: date
    period_end: date
    evidence: dict[str, float | int | str] = Field(description="the numbers behind it (all counts ≥ 5)")
    summary: str
    detected_at: datetime

    def subject(self) -> str:
        return self.scope
