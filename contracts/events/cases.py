"""Events on `samenwijk.cases`, produced by intake."""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from contracts.envelope import Event
from contracts.events.common import CaseDetails, Severity

BUURT_CODE = r"^BU[0-9]{8}$"
WIJK_CODE = r"^WK[0-9]{6}$"


class CaseOpened(Event):
    event_type = "case.opened"

    case_id: UUID
    corporation_id: str
    category: str = Field(description="taxonomy code, e.g. overlast.geluid")
    severity: Severity
    buurt_code: str = Field(pattern=BUURT_CODE)
    wijk_code: str = Field(pattern=WIJK_CODE)
    details: CaseDetails
    handling_professional: str | None = Field(default=None, description="pseudonymous id")
    opened_at: datetime


class ComplaintReceived(Event):
    event_type = "complaint.received"

    case_id: UUID
    complaint_id: UUID
    corporation_id: str
    category: str
    buurt_code: str = Field(pattern=BUURT_CODE)
    repeat_count: int = Field(ge=1, description="1 for the complaint that opened the case")
    received_at: datetime


class CaseClosed(Event):
    event_type = "case.closed"

    case_id: UUID
    corporation_id: str
    outcome: str
    closed_at: datetime


class CaseErased(Event):
    event_type = "case.erased"

    case_id: UUID
    erased_at: datetime
