"""Commands a Kafka-native partner sends on `samenwijk.partner.<id>.responses`."""

from uuid import UUID

from pydantic import Field

from contracts.envelope import Event


class AcceptReferral(Event):
    event_type = "referral.accept"

    referral_id: UUID
    note: str | None = Field(default=None, max_length=2000)

    def subject(self) -> str:
        return str(self.referral_id)


class DeclineReferral(Event):
    event_type = "referral.decline"

    referral_id: UUID
    reason: str = Field(min_length=1, max_length=2000)

    def subject(self) -> str:
        return str(self.referral_id)


class ReportProgress(Event):
    event_type = "referral.progress"

    referral_id: UUID
    note: str = Field(min_length=1, max_length=2000)

    def subject(self) -> str:
        return str(self.referral_id)


class CompleteReferral(Event):
    event_type = "referral.complete"

    referral_id: UUID
    outcome: str = Field(min_length=1, max_length=2000)

    def subject(self) -> str:
        return str(self.referral_id)
