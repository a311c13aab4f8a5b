"""CloudEvents 1.0, structured JSON mode, following the NL GOV profile where it applies.

The whole envelope is the Kafka record value (content type
`application/cloudevents+json`); `traceparent` travels in the Kafka headers, not here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "nl.samenwijk."


class Event(BaseModel):
    """Payload (`data`) of one event type. Subclasses set `event_type` and `version`."""

    # Consumers ignore fields added by a newer producer (compatible evolution).
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1

    def subject(self) -> str:
        """The case id: CloudEvents `subject` and the Kafka record key."""
        return str(getattr(self, "case_id"))

    @classmethod
    def type_name(cls) -> str:
        return event_type_name(cls.event_type)

    @classmethod
    def schema_uri(cls) -> str:
        return f"urn:samenwijk:schema:{cls.event_type}:{cls.version}"


def event_type_name(event_type: str) -> str:
    return TYPE_PREFIX + event_type


DataT = TypeVar("DataT")


class CloudEvent(BaseModel, Generic[DataT]):
    model_config = ConfigDict(extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str = Field(min_length=1, description="URN of the producing service")
    type: str = Field(pattern=r"^nl\.samenwijk\.[a-z_]+\.[a-z_]+$")
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: DataT


class UnknownEventType(ValueError):
    pass


def envelope_for(event: Event, source: str, event_id: uuid.UUID | None = None) -> CloudEvent[Any]:
    return CloudEvent[type(event)](  # type: ignore[misc]
        id=event_id or uuid.uuid4(),
        source=source,
        type=event.type_name(),
        subject=event.subject(),
        dataschema=event.schema_uri(),
        data=event,
    )


def encode(event: Event, source: str, event_id: uuid.UUID | None = None) -> bytes:
    # Absent optional fields are left out: a minimised referral shows only what was shared.
    # A `sealed` value an event arrived with belongs to its producer's key: never passed on.
    return envelope_for(event, source, event_id).model_dump_json(exclude_none=True,
                                                                 exclude={"data": {"sealed"}}).encode()


def encode_data(event: Event, data: dict[str, Any], source: str, event_id: uuid.UUID | None = None) -> bytes:
    """Like `encode`, with `data` as given (the event's fields with the personal ones sealed)."""
    return CloudEvent[dict[str, Any]](
        id=event_id or uuid.uuid4(), source=source, type=event.type_name(), subject=event.subject(),
        dataschema=event.schema_uri(), data=data,
    ).model_dump_json(exclude_none=True).encode()


def decode(raw: bytes, registry: dict[str, type[Event]]) -> tuple[CloudEvent[dict[str, Any]], Event | None]:
    """Parse a record value. Returns the envelope and the typed payload, or None as the
    payload when the type is not in `registry` (a consumer skips types it does not use).
    Raises pydantic.ValidationError on a malformed envelope or payload."""
    envelope = CloudEvent[dict[str, Any]].model_validate_json(raw)
    model = registry.get(envelope.type)
    if model is None:
        return envelope, None
    return envelope, model.model_validate(envelope.data)
