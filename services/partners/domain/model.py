"""Partners' domain: the registry seed, agreements, and a delivered referral's life."""

from datetime import date
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from contracts.events import SHAREABLE_FIELDS, PartnerType


class AgreementSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agreement_id: str
    purposes: list[str] = Field(min_length=1)
    fields: list[str]
    legal_basis: str
    valid_from: date
    valid_until: date | None = None
    revoked: bool = False

    def model_post_init(self, _: object) -> None:
        unknown = set(self.fields) - set(SHAREABLE_FIELDS)
        if unknown:
            raise ValueError(f"agreement {self.agreement_id}: unknown fields {sorted(unknown)}")


class PartnerSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    partner_type: PartnerType
    region: str = Field(pattern=r"^GM[0-9]{4}$")
    coordinator: str | None = None
    agreements: list[AgreementSeed] = []


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partners: list[PartnerSeed]


def load_registry(path: Path) -> Registry:
    return Registry.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


class ReferralStatus(StrEnum):
    DELIVERED = "delivered"
    HELD = "held"  # the partner's agreement no longer allows delivery
    ACCEPTED = "accepted"
    DECLINED = "declined"


class IllegalTransition(Exception):
    pass


def check_response(current: ReferralStatus, wanted: ReferralStatus, same_content: bool) -> bool:
    """Whether `wanted` must be applied (False: it already was — an idempotent retry).
    Raises IllegalTransition with the reason otherwise."""
    if current == wanted:
        if same_content:
            return False
        raise IllegalTransition(f"referral is already {current.value} with different content")
    if current == ReferralStatus.DELIVERED and wanted in (ReferralStatus.ACCEPTED, ReferralStatus.DECLINED):
        return True
    raise IllegalTransition(f"cannot go from {current.value} to {wanted.value}")
