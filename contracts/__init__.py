"""Event contracts shared by every samenwijk service.

The only code services share (with `runtime`). A field may be added; none is removed or
changes meaning within a version — `tests/unit/test_contract_compatibility.py` enforces
that against the schemas committed under `contracts/schemas/`.
"""

from contracts.envelope import CloudEvent, Event, decode, encode, event_type_name
from contracts.events import EVENTS, COMMANDS
from contracts.topics import Topics

__all__ = [
    "COMMANDS",
    "EVENTS",
    "CloudEvent",
    "Event",
    "Topics",
    "decode",
    "encode",
    "event_type_name",
]
