"""Partners' domain: the registry seed, agreements, and a delivered referral's life."""

import hashlib
import hmac
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.events import SHAREABLE_FIELDS, PartnerType
from contracts.events.common import PartnerId
from contracts.reason_codes import ResponseKind, TextRecipient
from contracts.topics import Topics


class AgreementSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agreement_id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=128)
    purposes: list[str] = Field(min_length=1)
    fields: list[str]
    legal_basis: str
    valid_from: date
    valid_until: date | None = None
    revoked: bool = False
    # Who the partner's free text may reach besides the partner itself; default nobody.
    free_text_recipients: list[TextRecipient] = []

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _plausible(cls, day: date | None) -> date | None:
        if day is not None and not date(1900, 1, 1) <= day <= date(2999, 12, 31):
            raise ValueError("out of range: between 1900-01-01 and 2999-12-31")
        return day

    @model_validator(mode="after")
    def _known_fields_and_period(self) -> "AgreementSeed":
        unknown = set(self.fields) - set(SHAREABLE_FIELDS)
        if unknown:
            raise ValueError(f"agreement {self.agreement_id}: unknown fields {sorted(unknown)}")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError(f"agreement {self.agreement_id}: valid_until is before valid_from")
        return self


class PartnerSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: PartnerId
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


def partner_topics(partner_ids: list[str]) -> list[str]:
    """Each partner has its own inbox and responses topic (a real cluster restricts them by ACL)."""
    return [t for p in partner_ids for t in (Topics.partner_inbox(p), Topics.partner_responses(p))]


class ReferralStatus(StrEnum):
    DELIVERED = "delivered"
    HELD = "held"  # the partner's agreement no longer allows delivery
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"


# What a partner can say about a referral (HTTP or its responses topic).
Response = ResponseKind


def text_shared_with(recipients: list[str] | None, recipient: TextRecipient | str) -> bool:
    """Whether the agreement lets the partner's free text reach `recipient` (default: no)."""
    return recipient in (recipients or ())


class IllegalTransition(Exception):
    pass


# Where each response may start from, and where it leads (None: the status stays).
_TRANSITIONS: dict[Response, tuple[frozenset[ReferralStatus], ReferralStatus | None]] = {
    Response.ACCEPT: (frozenset({ReferralStatus.DELIVERED}), ReferralStatus.ACCEPTED),
    Response.DECLINE: (frozenset({ReferralStatus.DELIVERED}), ReferralStatus.DECLINED),
    Response.PROGRESS: (frozenset({ReferralStatus.ACCEPTED}), None),
    Response.COMPLETE: (frozenset({ReferralStatus.ACCEPTED}), ReferralStatus.COMPLETED),
}
_RESULT_OF = {Response.ACCEPT: ReferralStatus.ACCEPTED, Response.DECLINE: ReferralStatus.DECLINED,
              Response.COMPLETE: ReferralStatus.COMPLETED}


def decide(current: ReferralStatus, response: Response, same_as_last: bool) -> ReferralStatus | None:
    """The status after `response`, or None when it was applied before (an idempotent retry:
    the same response with the same content). Raises IllegalTransition with the reason."""
    if current is ReferralStatus.HELD:
        raise IllegalTransition("referral is held: the partner's agreement does not allow it at present")
    if _RESULT_OF.get(response) is current or (response is Response.PROGRESS and same_as_last):
        if same_as_last:
            return None
        raise IllegalTransition(f"referral is already {current.value} with different content")
    allowed_from, result = _TRANSITIONS[response]
    if current not in allowed_from:
        needs = " or ".join(sorted(s.value for s in allowed_from))
        raise IllegalTransition(f"cannot {response.value} a referral that is {current.value} (it must be {needs})")
    return result or current


def check_response(current: ReferralStatus, wanted: ReferralStatus, same_content: bool) -> bool:
    """The walking skeleton's form of `decide`, by target status: whether to apply it."""
    response = {v: k for k, v in _RESULT_OF.items()}.get(wanted)
    try:
        if response is None:
            raise IllegalTransition("no response leads there")
        return decide(current, response, same_content) is not None
    except IllegalTransition as exc:
        if "different content" in str(exc):
            raise
        raise IllegalTransition(f"cannot go from {current.value} to {wanted.value}: {exc}") from None


# -- webhooks -------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Samenwijk-Signature"
TIMESTAMP_HEADER = "X-Samenwijk-Timestamp"
DELIVERY_HEADER = "X-Samenwijk-Delivery"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`: the timestamp is signed, so it cannot be moved."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, now: float,
           tolerance_s: float = 300) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (a replayed
    request is refused after `tolerance_s`; within it, the delivery id dedupes)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff with jitter; a delivery is given up `give_up_after_s` after it
    was (re)scheduled."""
    initial_s: float
    maximum_s: float
    give_up_after_s: float

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """Delay after the `attempts`-th failure: half fixed, half random ("equal jitter"),
        so receivers that failed together do not all come back at once."""
        base = min(self.maximum_s, self.initial_s * 2 ** max(0, attempts - 1))
        return base / 2 + rand() * base / 2

    def next_attempt(self, attempts: int, window_start: datetime, now: datetime,
                     rand: Callable[[], float] = random.random) -> datetime | None:
        """When to try again, or None: give up (dead letter)."""
        at = now + timedelta(seconds=self.delay(attempts, rand))
        return None if at > window_start + timedelta(seconds=self.give_up_after_s) else at
