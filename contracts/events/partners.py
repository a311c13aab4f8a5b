"""Events on `samenwijk.partners`, produced by partners."""

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from contracts.envelope import Event
from contracts.reason_codes import REASON_CODE, ResponseKind, TextRecipient, code_schema, with_legacy_code
from contracts.events.cases import SEALED_DESCRIPTION
from contracts.events.common import PartnerId, PartnerType
from contracts.personal import Sealed


def _code(kind: ResponseKind) -> Any:
    return Field(pattern=REASON_CODE, json_schema_extra=code_schema(kind),
                 description=f"reason code of the {kind.value} (contracts/reason_codes.py), shown with its label")


TEXT_FOR_CORPORATION = ("the partner's own words, only when its agreement names the corporation as a recipient "
                        "of free text (absent by default)")


class _Response(Event):
    """A partner's response as every consumer of samenwijk.partners may see it: the code,
    and free text only where the partner's agreement lets it reach the corporation.
    Version 2: version 1 carried the partner's text to everyone. Version 3: that text is
    sealed for intake alone (contracts/personal.py), so its absence no longer means none."""

    version = 3
    kind: ClassVar[ResponseKind]

    referral_id: UUID
    case_id: UUID
    partner_id: PartnerId
    text_for_corporation: str | None = Field(default=None, max_length=2000, description=TEXT_FOR_CORPORATION)
    sealed: Sealed | None = Field(default=None, description=SEALED_DESCRIPTION)

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        # A v1 event still in the log: the legacy code; its text (note, reason, outcome) is dropped.
        return with_legacy_code(cls.kind, data)


class ReferralAccepted(_Response):
    event_type = "referral.accepted"
    kind = ResponseKind.ACCEPT

    code: str = _code(ResponseKind.ACCEPT)
    accepted_at: datetime


class ReferralDeclined(_Response):
    event_type = "referral.declined"
    kind = ResponseKind.DECLINE

    code: str = _code(ResponseKind.DECLINE)
    declined_at: datetime


class ReferralProgressed(_Response):
    event_type = "referral.progressed"
    kind = ResponseKind.PROGRESS

    code: str = _code(ResponseKind.PROGRESS)
    progressed_at: datetime


class ReferralCompleted(_Response):
    event_type = "referral.completed"
    kind = ResponseKind.COMPLETE

    code: str = _code(ResponseKind.COMPLETE)
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
    free_text_recipients: list[TextRecipient] = Field(
        default=[], description="who the partner's free text may reach besides the partner (default nobody)")
    revision: int = Field(ge=1, description="higher revision wins")
    changed_at: datetime

    def subject(self) -> str:
        return self.partner_id
