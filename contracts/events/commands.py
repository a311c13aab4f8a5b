"""Commands a Kafka-native partner sends on `samenwijk.partner.<id>.responses`.

Version 2: every response carries a reason code (contracts/reason_codes.py); the free
text is optional and goes only where the partner's agreement says. A version 1 command
(text, no code) is still taken: its code is the legacy one (`overig`; accept: `aangenomen`)
and its text is treated as free text like any other."""

from typing import Any, ClassVar
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from contracts.envelope import Event
from contracts.reason_codes import REASON_CODE, ResponseKind, check_code, code_schema, with_legacy_code

FREE_TEXT = "the partner's own words; shared only with the recipients its agreement names"


def _code(kind: ResponseKind) -> Any:
    return Field(pattern=REASON_CODE, json_schema_extra=code_schema(kind),
                 description=f"reason code of the {kind.value}, one of the list (contracts/reason_codes.py)")


class _Command(Event):
    version = 2
    kind: ClassVar[ResponseKind]

    referral_id: UUID
    code: str

    def subject(self) -> str:
        return str(self.referral_id)

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        return with_legacy_code(cls.kind, data)

    @field_validator("code")
    @classmethod
    def _known(cls, code: str) -> str:
        return check_code(cls.kind, code)


class AcceptReferral(_Command):
    event_type = "referral.accept"
    kind = ResponseKind.ACCEPT

    code: str = _code(ResponseKind.ACCEPT)
    note: str | None = Field(default=None, max_length=2000, description=FREE_TEXT)


class DeclineReferral(_Command):
    event_type = "referral.decline"
    kind = ResponseKind.DECLINE

    code: str = _code(ResponseKind.DECLINE)
    reason: str | None = Field(default=None, min_length=1, max_length=2000, description=FREE_TEXT)


class ReportProgress(_Command):
    event_type = "referral.progress"
    kind = ResponseKind.PROGRESS

    code: str = _code(ResponseKind.PROGRESS)
    note: str | None = Field(default=None, min_length=1, max_length=2000, description=FREE_TEXT)


class CompleteReferral(_Command):
    event_type = "referral.complete"
    kind = ResponseKind.COMPLETE

    code: str = _code(ResponseKind.COMPLETE)
    outcome: str | None = Field(default=None, min_length=1, max_length=2000, description=FREE_TEXT)
