"""Which fields of which event are personal data, and who may read them (DESIGN.md, Data
protection: personal data in the event log is erasable).

This table is the one place that decides it. A producer seals the listed fields of an
event (AES-256-GCM, `runtime/sealing.py`) under a data key of the case that it alone keeps;
only the services named as readers can obtain that key, and only while the case lives.
Erasing the case deletes the key, so every copy of the event on every topic, replica and
dead letter becomes unreadable. Everything not listed travels in clear and must therefore
never be personal: ids, codes, CBS buurt/wijk codes, categories, dates, organisations,
pseudonymous professional ids, coarse customer groups.

Key classes: one data key per (case, class). A class groups the events whose readers are
the same, so a key never opens more than its readers may see. On a partner's inbox topic
every event is sealed again under the class `inbox.<partner_id>`, whose only reader is that
partner (through the partner API, under its current agreement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Sealing:
    key_class: str            # part of the key id: <producer>/<key_class>/<subject>
    fields: tuple[str, ...]   # the event's personal fields (top level of `data`)
    readers: frozenset[str]   # services that may obtain the key (the producer always has it)


def _s(key_class: str, fields: tuple[str, ...], readers: tuple[str, ...] = ()) -> Sealing:
    return Sealing(key_class, fields, frozenset(readers))


# event type (without the nl.samenwijk. prefix) -> how it is sealed on the shared topics.
PERSONAL: dict[str, Sealing] = {
    # intake: the case details go to referral only (it minimises them per partner);
    # reporting, partners and everyone else get category, buurt, dates and codes.
    "case.opened": _s("case", ("details",), ("referral",)),
    # free text of the corporation and a wijkbeheerder's note and address: nobody else needs them
    "case.reopened": _s("intake", ("reason",)),
    "observation.recorded": _s("intake", ("address", "note")),
    # referral: a minimised referral is for partners (which delivers it to its partner)
    "referral.requested": _s("referral", ("details",), ("partners",)),
    # an escalation carries codes; a partner's free text only on the owner's inbox copy (sealed there)
    "escalation.raised": _s("escalation", ("response_text",), ("partners",)),
    # partners: a partner's own words, where its agreement lets them reach the corporation
    "referral.accepted": _s("response", ("text_for_corporation",), ("intake",)),
    "referral.declined": _s("response", ("text_for_corporation",), ("intake",)),
    "referral.progressed": _s("response", ("text_for_corporation",), ("intake",)),
    "referral.completed": _s("response", ("text_for_corporation",), ("intake",)),
}

INBOX_PREFIX = "samenwijk.partner."
INBOX_SUFFIX = ".inbox"
ALGORITHM = "A256GCM"


def inbox_partner(topic: str) -> str | None:
    """The partner whose inbox `topic` is, or None for a shared topic."""
    if topic.startswith(INBOX_PREFIX) and topic.endswith(INBOX_SUFFIX):
        return topic[len(INBOX_PREFIX):-len(INBOX_SUFFIX)]
    return None


def sealing_for(event_type: str, topic: str) -> Sealing | None:
    """How an event is sealed on `topic`: on a partner's inbox under that partner's own key
    class, elsewhere as PERSONAL says. None: the event has no personal fields."""
    base = PERSONAL.get(event_type)
    if base is None:
        return None
    partner = inbox_partner(topic)
    if partner is not None:
        return Sealing(f"inbox.{partner}", base.fields, frozenset())
    return base


def readers_of(key_class: str) -> frozenset[str]:
    """The services that may fetch keys of this class from its producer."""
    found = {r for s in PERSONAL.values() if s.key_class == key_class for r in s.readers}
    return frozenset(found)


def personal_fields(event_type: str) -> tuple[str, ...]:
    s = PERSONAL.get(event_type)
    return s.fields if s else ()


class KeyId(BaseModel):
    """`<producer>/<key_class>/<subject>`: who keeps the key, for what, for which case."""

    model_config = ConfigDict(frozen=True)
    producer: str
    key_class: str
    subject: str

    @classmethod
    def parse(cls, kid: str) -> "KeyId":
        parts = kid.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"not a data key id: {kid!r}")
        return cls(producer=parts[0], key_class=parts[1], subject=parts[2])

    def __str__(self) -> str:
        return f"{self.producer}/{self.key_class}/{self.subject}"


class Sealed(BaseModel):
    """The personal fields of an event as one AES-256-GCM ciphertext (JSON object inside).
    Associated data: `<type>|<subject>|<kid>`, so a sealed value cannot be moved to
    another event or case. `iv` and `ct` are base64url without padding."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    kid: str = Field(description="<producer>/<key_class>/<subject>: the data key that opens it")
    alg: Literal["A256GCM"] = ALGORITHM
    iv: str = Field(description="96-bit nonce, base64url")
    ct: str = Field(description="ciphertext with the 128-bit tag appended, base64url")
