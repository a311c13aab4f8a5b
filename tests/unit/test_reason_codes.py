"""The reason-code list (contracts/reason_codes.py) and how responses carry it: codes are
checked where partners send them, documented in the schemas, and a version 1 message
without a code reads as the legacy code without its text."""

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import export
from contracts.events import (
    AcceptReferral,
    DeclineReferral,
    EscalationRaised,
    ReferralDeclined,
    ReferralProgressed,
    ReportProgress,
)
from contracts.reason_codes import REASON_CODES, ResponseKind, TextRecipient, label
from services.referral.domain.rules import LEVELS

NOW = datetime.now(UTC)


def test_every_kind_has_codes_with_labels_and_an_overig() -> None:
    assert set(REASON_CODES) == set(ResponseKind)
    for codes in REASON_CODES.values():
        assert "overig" in codes and all(codes.values())
    assert label(ResponseKind.PROGRESS, "in_behandeling") == "in behandeling"
    assert label("decline", "nieuw_later") == "nieuw_later"  # an unknown code shows as itself


def test_escalation_levels_are_text_recipients() -> None:
    assert set(LEVELS) | {"corporation"} == {r.value for r in TextRecipient}


def test_commands_take_only_known_codes_and_optional_text() -> None:
    assert DeclineReferral(referral_id=uuid.uuid4(), code="geen_capaciteit").reason is None
    with pytest.raises(ValidationError, match="one of geen_capaciteit"):
        DeclineReferral(referral_id=uuid.uuid4(), code="psychose")
    with pytest.raises(ValidationError):
        ReportProgress(referral_id=uuid.uuid4(), code="aangenomen")  # an accept code, not a progress code


def test_a_version_1_message_gets_the_legacy_code_and_events_drop_its_text() -> None:
    command = DeclineReferral.model_validate({"referral_id": str(uuid.uuid4()), "reason": "vol"})
    assert (command.code, command.reason) == ("overig", "vol")  # the text is free text, governed by the agreement
    assert AcceptReferral.model_validate({"referral_id": str(uuid.uuid4())}).code == "aangenomen"
    old_event = {"referral_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "partner_id": "ggz-noord",
                 "note": "psychose, opname overwogen", "progressed_at": NOW.isoformat()}
    event = ReferralProgressed.model_validate(old_event)
    assert event.code == "overig" and event.text_for_corporation is None
    assert "psychose" not in event.model_dump_json()


def test_the_schemas_document_the_codes_without_enumerating_them() -> None:
    schema = export.event_schema(ReferralDeclined)
    code = schema["properties"]["code"]
    assert code["x-reason-codes"] == REASON_CODES[ResponseKind.DECLINE] and "enum" not in code
    assert ReferralDeclined.version == 3 and "reason" not in schema["properties"]  # v3: text sealed
    assert "x-reason-codes" in export.event_schema(EscalationRaised)["properties"]["reason_code"]
