"""Value objects used inside several events."""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A partner id names Kafka topics (samenwijk.partner.<id>.inbox) and ACL principals: short,
# lower-case letters, digits and inner hyphens only.
PARTNER_ID = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
PARTNER_ID_MAX_LENGTH = 64
PartnerId = Annotated[str, Field(pattern=PARTNER_ID, max_length=PARTNER_ID_MAX_LENGTH,
                                 description="partner id, e.g. ggz-utrecht")]


class _Value(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Severity(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    ACUTE = "acute"


class PartnerType(StrEnum):
    GEMEENTE = "gemeente"
    WIJKTEAM = "wijkteam"
    GGZ = "ggz"
    WELZIJN = "welzijn"
    SCHULDHULP = "schuldhulp"
    POLITIE = "politie"
    BUURTBEMIDDELING = "buurtbemiddeling"


class Address(_Value):
    postcode: str = Field(pattern=r"^[1-9][0-9]{3}[A-Z]{2}$", examples=["3511AB"])
    huisnummer: int = Field(ge=1, le=99999)
    toevoeging: str | None = Field(default=None, max_length=6)


class Contact(_Value):
    """How a partner reaches the household (only for purposes that need it)."""

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)


class Arrears(_Value):
    """Rent arrears (huurachterstand) as the corporation signals it."""

    amount_eur: Decimal = Field(ge=0, decimal_places=2)
    months: int = Field(ge=0, le=120)


class CaseDetails(_Value):
    """The personal data of a case that can be shared, field by field.

    An agreement lists which of these fields a partner may see for a purpose;
    referral drops every other field before `referral.requested` is written.
    The reporter (neighbour) is deliberately not here: it never leaves intake.
    """

    address: Address | None = None
    description: str | None = Field(default=None, max_length=4000, description="nature of the problem")
    care_signal: str | None = Field(default=None, max_length=4000, description="care/zorg details")
    household_ref: str | None = Field(default=None, max_length=64, description="pseudonymous household id")
    contact: Contact | None = None
    arrears: Arrears | None = None

    def restricted_to(self, fields: set[str] | frozenset[str] | list[str]) -> "CaseDetails":
        """Only the named fields (minimisation by agreement); everything else is dropped."""
        allowed = set(fields)
        return CaseDetails.model_validate({k: v for k, v in self if k in allowed and v is not None})


SHAREABLE_FIELDS: tuple[str, ...] = tuple(CaseDetails.model_fields)


class CustomerGroup(_Value):
    """A coarse customer group (categories, never identities) for caseload and arrears figures."""

    household_type: str | None = Field(default=None, max_length=40, examples=["alleenstaand", "gezin"])
    age_band: str | None = Field(default=None, pattern=r"^[0-9]{2}-[0-9]{2}$|^[0-9]{2}\+$", examples=["65+"])


class Period(_Value):
    valid_from: date
    valid_until: date | None = None
