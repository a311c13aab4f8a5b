"""Intake's domain: the case taxonomy, the submitted case (in samenwijk's own shape or as a
VERA Signalering), repeat complaints, observations, closing, and the status of partner parts."""

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.events import (
    Address,
    Arrears,
    CaseDetails,
    CaseOpened,
    ComplaintReceived,
    Contact,
    CustomerGroup,
    ObservationRecorded,
    Severity,
)
from contracts.events.cases import BUURT_CODE, WIJK_CODE
from services.intake.domain import reference

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
ARREARS_CATEGORY = "financieel.huurachterstand"
TOEVOEGING = r"^[A-Za-z0-9]{1,6}$"


def family(category: str) -> str:
    """The category family (overlast, leefbaarheid, …): repeat complaints join within it."""
    return category.split(".", 1)[0]


def address_key(address: Address) -> str:
    """One rental unit, however the toevoeging was typed."""
    return f"{address.postcode}|{address.huisnummer}|{(address.toevoeging or '').upper()}"


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


HouseholdType = Literal["alleenstaand", "paar", "gezin_met_kinderen", "eenoudergezin", "overig"]
AgeBand = Literal["18-22", "23-29", "30-44", "45-64", "65+"]


class CustomerGroupIn(BaseModel):
    """A coarse customer group: categories, never identities."""

    model_config = ConfigDict(extra="forbid")
    household_type: HouseholdType | None = None
    age_band: AgeBand | None = None

    def to_event(self) -> CustomerGroup:
        return CustomerGroup(household_type=self.household_type, age_band=self.age_band)


def _check_served(buurt_code: str, wijk_code: str) -> None:
    if problem := reference.served.problem(buurt_code, wijk_code):
        raise ValueError(problem)


class NewCase(BaseModel):
    """What a corporation submits (POST /v1/cases), in samenwijk's own shape."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="taxonomy code, e.g. overlast.geluid", examples=["overlast.geluid"])
    severity: Severity = Severity.NORMAL
    address: Address
    buurt_code: str = Field(pattern=BUURT_CODE, examples=["BU03634501"])
    wijk_code: str = Field(pattern=WIJK_CODE, examples=["WK036345"])
    description: str = Field(min_length=1, max_length=4000)
    care_signal: str | None = Field(default=None, max_length=4000)
    household_ref: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                      description="pseudonymised household id; never a BSN")
    contact: Contact | None = None
    arrears: Arrears | None = None
    customer_group: CustomerGroupIn | None = None
    reporter: Reporter = Reporter()
    handling_professional: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")

    @model_validator(mode="after")
    def _known_category_and_place(self) -> "NewCase":
        if self.category not in TAXONOMY:
            raise ValueError(f"category {self.category!r} is not in the taxonomy: {', '.join(TAXONOMY)}")
        if self.address.toevoeging is not None and not re.fullmatch(TOEVOEGING, self.address.toevoeging):
            raise ValueError("address.toevoeging: 1 to 6 letters or digits")
        if self.household_ref is not None and _looks_like_bsn(self.household_ref):
            raise ValueError("household_ref: looks like a BSN; send a pseudonymised identifier")
        _check_served(self.buurt_code, self.wijk_code)
        return self

    def details(self) -> CaseDetails:
        return CaseDetails(address=self.address, description=self.description, care_signal=self.care_signal,
                           household_ref=self.household_ref, contact=self.contact, arrears=self.arrears)


def _looks_like_bsn(value: str) -> bool:
    """Nine digits passing the elfproef: a BSN must never be stored in clear."""
    if len(value) != 9 or not value.isdigit():
        return False
    digits = [int(c) for c in value]
    return (sum(d * w for d, w in zip(digits[:8], range(9, 1, -1))) - digits[8]) % 11 == 0


# -- VERA Signalering ----------------------------------------------------------------------

# VERA `soort` (and, for overlast, `subsoort`) → taxonomy code (docs/taxonomy.md).
VERA_SOORT: dict[str, str] = {
    "huurschuld": "financieel.huurachterstand",
    "huurachterstand": "financieel.huurachterstand",
    "wietplantage": "veiligheid.hennepkwekerij",
    "hennepkwekerij": "veiligheid.hennepkwekerij",
    "woonfraude": "veiligheid.woonfraude",
    "onderhuur": "veiligheid.woonfraude",
    "vervuiling": "leefbaarheid.vervuiling",
    "verwaarlozing": "leefbaarheid.vervuiling",
    "verloedering": "leefbaarheid.verloedering",
    "afval": "leefbaarheid.afval",
    "verward_gedrag": "zorg.verward_gedrag",
    "zorgmijding": "zorg.zorgmijding",
    "eenzaamheid": "zorg.zorgmijding",
}
VERA_OVERLAST: dict[str | None, str] = {
    None: "overlast.geluid",  # an overlast signal without subsoort is most often noise
    "geluid": "overlast.geluid",
    "agressie": "overlast.agressie",
    "intimidatie": "overlast.agressie",
    "drugs": "overlast.drugs",
    "stank": "overlast.stank",
    "huisdieren": "overlast.huisdieren",
}
VERA_URGENTIE = {"normaal": Severity.NORMAL, "hoog": Severity.URGENT, "spoed": Severity.ACUTE}


class VeraEenheid(BaseModel):
    """The rental unit (VHE) with its address and CBS codes, as corporation systems hold it."""

    model_config = ConfigDict(extra="forbid")
    vhe_nummer: str | None = Field(default=None, max_length=32, alias="vheNummer")
    postcode: str = Field(pattern=r"^[1-9][0-9]{3}[A-Z]{2}$")
    huisnummer: int = Field(ge=1, le=99999)
    huisnummertoevoeging: str | None = Field(default=None, pattern=TOEVOEGING)
    buurtcode: str = Field(pattern=BUURT_CODE)
    wijkcode: str = Field(pattern=WIJK_CODE)


class VeraHuurschuld(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bedrag: Decimal = Field(ge=0, decimal_places=2, description="achterstand in euro")
    aantal_maanden: int = Field(ge=0, le=120, alias="aantalMaanden")


class VeraHuishouden(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pseudoniem: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    huishoudtype: HouseholdType | None = None
    leeftijdscategorie: AgeBand | None = None


class VeraMelder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anoniem: bool = True
    naam: str | None = Field(default=None, max_length=200)
    telefoon: str | None = Field(default=None, max_length=32)


class VeraSignalering(BaseModel):
    """A signal in the shape of VERA's Signalering (Dutch corporation systems); recognised
    by its `soort` and mapped to the taxonomy."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    soort: str = Field(description="huurschuld, overlast, wietplantage, …", examples=["huurschuld"])
    subsoort: str | None = Field(default=None, description="for overlast: geluid, drugs, …")
    urgentie: Literal["normaal", "hoog", "spoed"] = "normaal"
    eenheid: VeraEenheid
    omschrijving: str = Field(min_length=1, max_length=4000)
    zorgsignaal: str | None = Field(default=None, max_length=4000)
    huurschuld: VeraHuurschuld | None = None
    huishouden: VeraHuishouden | None = None
    melder: VeraMelder = VeraMelder()
    behandelaar: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    signaleringsdatum: date | None = None

    @model_validator(mode="after")
    def _known_soort(self) -> "VeraSignalering":
        if self.category() == ARREARS_CATEGORY and self.huurschuld is None:
            raise ValueError("huurschuld: a huurschuld signal carries bedrag and aantalMaanden")
        try:  # the mapped case must hold too (served buurt, no BSN, …)
            self.to_new_case()
        except ValidationError as exc:
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from exc
        return self

    def category(self) -> str:
        if self.soort == "overlast":
            if self.subsoort not in VERA_OVERLAST:
                raise ValueError(f"subsoort {self.subsoort!r} of overlast is not mapped: "
                                 f"{', '.join(k for k in VERA_OVERLAST if k)}")
            return VERA_OVERLAST[self.subsoort]
        if self.soort not in VERA_SOORT:
            raise ValueError(f"soort {self.soort!r} is not mapped: {', '.join(['overlast', *VERA_SOORT])}")
        return VERA_SOORT[self.soort]

    def to_new_case(self) -> NewCase:
        e, hh = self.eenheid, self.huishouden
        group = CustomerGroupIn(household_type=hh.huishoudtype, age_band=hh.leeftijdscategorie) \
            if hh and (hh.huishoudtype or hh.leeftijdscategorie) else None
        return NewCase(
            category=self.category(), severity=VERA_URGENTIE[self.urgentie],
            address=Address(postcode=e.postcode, huisnummer=e.huisnummer, toevoeging=e.huisnummertoevoeging),
            buurt_code=e.buurtcode, wijk_code=e.wijkcode, description=self.omschrijving,
            care_signal=self.zorgsignaal, household_ref=hh.pseudoniem if hh else None,
            arrears=Arrears(amount_eur=self.huurschuld.bedrag, months=self.huurschuld.aantal_maanden)
            if self.huurschuld else None,
            customer_group=group,
            reporter=Reporter(anonymous=self.melder.anoniem, name=self.melder.naam, phone=self.melder.telefoon),
            handling_professional=self.behandelaar,
        )


def shape_of(body: object) -> str:
    """Which shape a POST /v1/cases body is in: a VERA Signalering carries `soort`."""
    return "vera" if isinstance(body, dict) and "soort" in body else "samenwijk"


# -- opening a case, or joining an open one ------------------------------------------------

def open_case(new: NewCase, corporation_id: str, now: datetime) -> tuple[UUID, UUID, CaseOpened, ComplaintReceived]:
    case_id, complaint_id = uuid4(), uuid4()
    opened = CaseOpened(case_id=case_id, corporation_id=corporation_id, category=new.category,
                        severity=new.severity, buurt_code=new.buurt_code, wijk_code=new.wijk_code,
                        details=new.details(), handling_professional=new.handling_professional, opened_at=now,
                        customer_group=new.customer_group.to_event() if new.customer_group else None)
    complaint = ComplaintReceived(case_id=case_id, complaint_id=complaint_id, corporation_id=corporation_id,
                                  category=new.category, buurt_code=new.buurt_code, repeat_count=1, received_at=now)
    return case_id, complaint_id, opened, complaint


def joins_open_case(last_complaint_at: datetime, now: datetime, window: timedelta) -> bool:
    """A new complaint about the same address and family joins the open case when it comes
    within the window after that case's latest complaint (a zero window never joins)."""
    return window > timedelta(0) and now - last_complaint_at <= window


def repeat_complaint(case_id: UUID, corporation_id: str, new: NewCase, complaints_so_far: int,
                     now: datetime) -> ComplaintReceived:
    return ComplaintReceived(case_id=case_id, complaint_id=uuid4(), corporation_id=corporation_id,
                             category=new.category, buurt_code=new.buurt_code,
                             repeat_count=complaints_so_far + 1, received_at=now)


# -- field observations --------------------------------------------------------------------

class NewObservation(BaseModel):
    """What a wijkbeheerder saw on a round: at an address, or for the whole buurt."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(examples=["leefbaarheid.afval"])
    buurt_code: str = Field(pattern=BUURT_CODE, examples=["BU03634501"])
    wijk_code: str = Field(pattern=WIJK_CODE, examples=["WK036345"])
    address: Address | None = None
    note: str | None = Field(default=None, max_length=4000)
    observer: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                          description="pseudonymous id of the wijkbeheerder")

    @model_validator(mode="after")
    def _known_category_and_place(self) -> "NewObservation":
        if self.category not in TAXONOMY:
            raise ValueError(f"category {self.category!r} is not in the taxonomy: {', '.join(TAXONOMY)}")
        if self.address and self.address.toevoeging is not None and not re.fullmatch(TOEVOEGING, self.address.toevoeging):
            raise ValueError("address.toevoeging: 1 to 6 letters or digits")
        _check_served(self.buurt_code, self.wijk_code)
        return self


def record_observation(new: NewObservation, corporation_id: str, case_id: UUID | None,
                       now: datetime) -> ObservationRecorded:
    return ObservationRecorded(observation_id=uuid4(), case_id=case_id, corporation_id=corporation_id,
                               observer=new.observer, category=new.category, buurt_code=new.buurt_code,
                               wijk_code=new.wijk_code, address=new.address, note=new.note, recorded_at=now)


# -- closing and reopening -----------------------------------------------------------------

class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ERASED = "erased"  # closed, and its personal data erased after the retention period


class CloseCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["opgelost", "deels_opgelost", "niet_opgelost", "doorverwezen", "ingetrokken"] = Field(
        description="how the case ended")
    liveability_cost_eur: Decimal | None = Field(default=None, ge=0, le=10_000_000, decimal_places=2,
                                                 description="leefbaarheidskosten spent on the case")


class ReopenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class IllegalTransition(Exception):
    """The case is not in a status this change applies to (409)."""


def check_close(status: str) -> None:
    if status != CaseStatus.OPEN:
        raise IllegalTransition(f"a case can be closed only when open; this one is {status}")


def check_reopen(status: str) -> None:
    if status != CaseStatus.CLOSED:
        raise IllegalTransition(f"a case can be reopened only when closed; this one is {status}")


def erasable(status: str, closed_at: datetime | None, now: datetime, retention: timedelta) -> bool:
    """Personal data of a closed case goes once the retention period has passed (AVG art. 5(1)(e))."""
    return status == CaseStatus.CLOSED and closed_at is not None and now - closed_at >= retention


# -- idempotency ---------------------------------------------------------------------------

IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,255}$"  # visible ASCII, as the IETF draft suggests


def fingerprint(shape: str, body: BaseModel, key: bytes) -> str:
    """What a retried request must repeat: the same shape and the same validated body. Keyed
    (HMAC), so the stored value cannot be matched against guessed bodies."""
    return hmac.new(key, f"{shape}:{body.model_dump_json()}".encode(), hashlib.sha256).hexdigest()


class IdempotencyConflict(Exception):
    """The key was used before with a different body (422)."""


def replay(stored_fingerprint: str, fingerprint_now: str) -> None:
    if stored_fingerprint != fingerprint_now:
        raise IdempotencyConflict("Idempotency-Key was already used with a different request body")


# -- partner parts -------------------------------------------------------------------------

class PartStatus(StrEnum):
    """A partner's part of the case, as the corporation sees it."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ESCALATED = "escalated"
    WITHDRAWN = "withdrawn"


# Events of one part arrive on different topics, so not always in order: a status only
# ever moves forward, whatever order its events come in.
STATUS_RANK = {PartStatus.REQUESTED: 0, PartStatus.ACCEPTED: 1, PartStatus.DECLINED: 1, PartStatus.EXPIRED: 1,
               PartStatus.IN_PROGRESS: 2, PartStatus.ESCALATED: 2, PartStatus.COMPLETED: 3,
               PartStatus.WITHDRAWN: 3}


def expired_rank(deadline: str) -> int:
    """A missed respond deadline is overtaken by a late acceptance; a missed resolve
    deadline stands next to the work in progress."""
    return STATUS_RANK[PartStatus.EXPIRED] if deadline == "respond" else STATUS_RANK[PartStatus.IN_PROGRESS]
