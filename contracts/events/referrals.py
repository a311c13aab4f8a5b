"""Events on `samenwijk.referrals`, produced by referral (and, per partner, on its inbox)."""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from contracts.envelope import Event
from contracts.events.cases import BUURT_CODE, SEALED_DESCRIPTION
from contracts.events.common import CaseDetails, PartnerId, PartnerType, Severity
from contracts.reason_codes import ESCALATION_REASONS, REASON_CODE
from contracts.personal import Sealed


class ReferralRequested(Event):
    """A part of a case handed to one partner; `details` is already minimised for it."""

    # v2: `details` is sealed (for partners only; on an inbox, for that partner only)
    event_type = "referral.requested"
    version = 2

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    partner_type: PartnerType
    purpose: str = Field(description="doel, e.g. vroegsignalering-schulden")
    legal_basis: str = Field(description="grondslag")
    category: str
    severity: Severity
    buurt_code: str = Field(pattern=BUURT_CODE)
    details: CaseDetails | None = Field(default=None, description="personal: sealed")
    respond_by: datetime
    resolve_by: datetime
    requested_at: datetime
    sealed: Sealed | None = Field(default=None, description=SEALED_DESCRIPTION)


class EscalationRaised(Event):
    # v2: on the owner's inbox copy `response_text` (a partner's free text) is sealed
    event_type = "escalation.raised"
    version = 2

    escalation_id: UUID
    case_id: UUID
    level: str = Field(description="coordinator | casusoverleg | zorg_en_veiligheidshuis | woonoverlast")
    reason: str = Field(description="why, in words made from codes and labels (never a partner's free text)")
    owner_partner_id: PartnerId | None = None
    referral_id: UUID | None = None
    raised_at: datetime
    reason_code: str | None = Field(default=None, pattern=REASON_CODE, json_schema_extra={"x-reason-codes": ESCALATION_REASONS},
                                    description="why, as a code (contracts/reason_codes.py ESCALATION_REASONS)")
    response_code: str | None = Field(default=None, pattern=REASON_CODE,
                                      description="the partner's reason code when its response led here (e.g. a decline)")
    response_text: str | None = Field(
        default=None, max_length=2000,
        description="only on the owner's inbox copy: the partner's free text, when the partner's agreement "
                    "names this escalation level as a recipient; never on samenwijk.referrals")
    sealed: Sealed | None = Field(default=None, description=SEALED_DESCRIPTION)


class ReferralWithdrawn(Event):
    event_type = "referral.withdrawn"

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    reason: str
    withdrawn_at: datetime


class ReferralExpired(Event):
    """A deadline passed without the partner acting."""

    event_type = "referral.expired"

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    deadline: str = Field(description="respond | resolve")
    due_at: datetime
    expired_at: datetime


class EscalationResolved(Event):
    event_type = "escalation.resolved"

    escalation_id: UUID
    case_id: UUID
    reason: str
    resolved_at: datetime
