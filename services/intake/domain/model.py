"""Intake's domain: the case taxonomy, the submitted case, and the status of partner parts."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.events import Address, Arrears, CaseDetails, CaseOpened, ComplaintReceived, Contact, Severity
from contracts.events.cases import BUURT_CODE, WIJK_CODE

# Case taxonomy: family.code, in the domain's words (docs/taxonomy.md).
TAXONOMY: dict[str, str] = {
    "overlast.geluid": "Geluidsoverlast",
    "overlast.agressie": "Agressie / intimidatie",
    "overlast.drugs": "Drugsoverlast",
    "overlast.stank": "Stankoverlast",
    "overlast.huisdieren": "Overlast van huisdieren",
    "leefbaarheid.afval": "Afval / grofvuil",
    "leefbaarheid.verloedering": "Verloedering",
    "leefbaarheid.vervuiling": "Vervuiling / verwaarlozing van de woning",
    "zorg.verward_gedrag": "Verward gedrag",
    "zorg.zorgmijding": "Zorgmijding / eenzaamheid",
    "financieel.huurachterstand": "Huurachterstand",
    "veiligheid.hennepkwekerij": "Hennepkwekerij",
    "veiligheid.woonfraude": "Woonfraude / onderhuur",
}


class Reporter(BaseModel):
    """Who reported it. Stored only in intake; never leaves it."""

    model_config = ConfigDict(extra="forbid")
    anonymous: bool = True
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _anonymous_has_no_identity(self) -> "Reporter":
        if self.anonymous and (self.name or self.phone):
            raise ValueError("an anonymous reporter has no name or phone")
        return self


class NewCase(BaseModel):
    """What a corporation submits (POST /v1/cases)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="taxonomy code, e.g. overlast.geluid", examples=["overlast.geluid"])
    severity: Severity = Severity.NORMAL
    address: Address
    buurt_code: str = Field(pattern=BUURT_CODE, examples=["BU03630000"])
    wijk_code: str = Field(pattern=WIJK_CODE, examples=["WK036300"])
    description: str = Field(min_length=1, max_length=4000)
    care_signal: str | None = Field(default=None, max_length=4000)
    household_ref: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    contact: Contact | None = None
    arrears: Arrears | None = None
    reporter: Reporter = Reporter()
    handling_professional: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _known_category(self) -> "NewCase":
        if self.category not in TAXONOMY:
            raise ValueError(f"category {self.category!r} is not in the taxonomy: {', '.join(TAXONOMY)}")
        if self.buurt_code[2:8] != self.wijk_code[2:8]:  # BU<gemeente 4><wijk 2><buurt 2>
            raise ValueError(f"buurt {self.buurt_code} is not in wijk {self.wijk_code}")
        return self

    def details(self) -> CaseDetails:
        return CaseDetails(address=self.address, description=self.description, care_signal=self.care_signal,
                           household_ref=self.household_ref, contact=self.contact, arrears=self.arrears)


def open_case(new: NewCase, corporation_id: str, now: datetime) -> tuple[UUID, UUID, CaseOpened, ComplaintReceived]:
    case_id, complaint_id = uuid4(), uuid4()
    opened = CaseOpened(case_id=case_id, corporation_id=corporation_id, category=new.category,
                        severity=new.severity, buurt_code=new.buurt_code, wijk_code=new.wijk_code,
                        details=new.details(), handling_professional=new.handling_professional, opened_at=now)
    complaint = ComplaintReceived(case_id=case_id, complaint_id=complaint_id, corporation_id=corporation_id,
                                  category=new.category, buurt_code=new.buurt_code, repeat_count=1, received_at=now)
    return case_id, complaint_id, opened, complaint


class PartStatus(StrEnum):
    """A partner's part of the case, as the corporation sees it."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ESCALATED = "escalated"


# Events of one part arrive on different topics, so not always in order: a status only
# ever moves forward, whatever order its events come in.
STATUS_RANK = {PartStatus.REQUESTED: 0, PartStatus.ACCEPTED: 1, PartStatus.DECLINED: 1,
               PartStatus.IN_PROGRESS: 2, PartStatus.ESCALATED: 2, PartStatus.COMPLETED: 3}
