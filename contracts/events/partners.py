"""Events on `samenwijk.partners`, produced by partners."""

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from contracts.envelope import Event
from contracts.events.common import PartnerId, PartnerType


class ReferralAccepted(Event):
    event_type = "referral.accepted"

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    note: str | None = None
    accepted_at: datetime


class ReferralDeclined(Event):
    event_type = "referral.declined"

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    reason: str = Field(min_length=1)
    declined_at: datetime


class ReferralProgressed(Event):
    event_type = "referral.progressed"

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    note: str = Field(min_length=1)
    progressed_at: datetime


class ReferralCompleted(Event):
    event_type = "referral.completed"

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    outcome: str = Field(min_length=1)
    completed_at: datetime


class PartnerRegistered(Event):
    event_type = "partner.registered"

    partner_id: PartnerId
    name: str
    partner_type: PartnerType
    region: str = Field(description="gemeente code the partner serves, e.g. GM0363")
    registered_at: datetime
    coordinator: str | None = Field(default=None, description="the partner's coordinator contact (first escalation step)")

    def subject(self) -> str:
        return self.partner_id


class AgreementChanged(Event):
    """The full current state of one data-sharing agreement (convenant)."""

    event_type = "agreement.changed"

    agreement_id: str
    partner_id: PartnerId
    purposes: list[str]
    fields: list[str] = Field(description="CaseDetails fields the partner may receive")
    legal_basis: str
    valid_from: date
    valid_until: date | None = None
    revoked: bool = False
    revision: int = Field(ge=1, description="higher revision wins")
    changed_at: datetime

    def subject(self) -> str:
        return self.partner_id
