"""Events on `samenwijk.cases`, produced by intake."""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from contracts.envelope import Event
from decimal import Decimal

from contracts.events.common import Address, CaseDetails, CustomerGroup, Severity
from contracts.personal import Sealed

SEALED_DESCRIPTION = ("the personal fields of this event (contracts/personal.py), AES-256-GCM sealed under the "
                      "case's data key; absent fields may be sealed here, or erased")

BUURT_CODE = r"^BU[0-9]{8}$"
WIJK_CODE = r"^WK[0-9]{6}$"


class CaseOpened(Event):
    # v2: `details` is sealed (only referral can read it) and absent once the case is erased
    event_type = "case.opened"
    version = 2

    case_id: UUID
    corporation_id: str
    category: str = Field(description="taxonomy code, e.g. overlast.geluid")
    severity: Severity
    buurt_code: str = Field(pattern=BUURT_CODE)
    wijk_code: str = Field(pattern=WIJK_CODE)
    details: CaseDetails | None = Field(default=None, description="personal: sealed")
    handling_professional: str | None = Field(default=None, description="pseudonymous id")
    opened_at: datetime
    customer_group: CustomerGroup | None = None
    building_ref: str | None = Field(
        default=None, pattern=r"^bld-[0-9a-f]{32}$",
        description="random reference of the building (postcode + huisnummer), the same for every case there; "
                    "not derived from the address: only intake maps it back")
    sealed: Sealed | None = Field(default=None, description=SEALED_DESCRIPTION)


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
    liveability_cost_eur: Decimal | None = Field(default=None, ge=0, description="leefbaarheidskosten spent")


class CaseReopened(Event):
    # v2: the free-text `reason` is sealed (intake's own key class: nobody else reads it)
    event_type = "case.reopened"
    version = 2

    case_id: UUID
    corporation_id: str
    reason: str | None = Field(default=None, description="personal: sealed")
    reopened_at: datetime
    sealed: Sealed | None = Field(default=None, description=SEALED_DESCRIPTION)


class ObservationRecorded(Event):
    """What a wijkbeheerder saw on a round, at an address or for a whole buurt."""

    # v2: `address` and `note` are sealed; absent no longer means there was none
    event_type = "observation.recorded"
    version = 2

    observation_id: UUID
    case_id: UUID | None = Field(default=None, description="set when it joined an open case")
    corporation_id: str
    observer: str = Field(description="pseudonymous id of the wijkbeheerder")
    category: str
    buurt_code: str = Field(pattern=BUURT_CODE)
    wijk_code: str = Field(pattern=WIJK_CODE)
    address: Address | None = None
    note: str | None = Field(default=None, max_length=4000)
    recorded_at: datetime
    sealed: Sealed | None = Field(default=None, description=SEALED_DESCRIPTION)

    def subject(self) -> str:
        return str(self.case_id or self.observation_id)


class CaseErased(Event):
    event_type = "case.erased"

    case_id: UUID
    erased_at: datetime
