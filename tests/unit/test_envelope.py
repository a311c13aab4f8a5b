"""CloudEvents envelope: encode/decode of every registered type, and what decode rejects."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.envelope import CONTENT_TYPE, Event, decode, encode
from contracts.events import (
    COMMANDS,
    EVENTS,
    AcceptReferral,
    SignalDetected,
    CaseReopened,
    CompleteReferral,
    EscalationResolved,
    ObservationRecorded,
    ReferralCompleted,
    ReferralExpired,
    ReferralProgressed,
    ReferralWithdrawn,
    ReportProgress,
    Address,
    AgreementChanged,
    Arrears,
    CaseClosed,
    CaseDetails,
    CaseErased,
    CaseOpened,
    ComplaintReceived,
    Contact,
    DeclineReferral,
    EscalationRaised,
    PartnerRegistered,
    PartnerType,
    ReferralAccepted,
    ReferralDeclined,
    ReferralRequested,
    Severity,
)

SOURCE = "urn:samenwijk:test:intake"
REGISTRY = {**EVENTS, **COMMANDS}
NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
CASE = uuid.UUID("0b0f7c1e-5d1a-4a57-9a53-3a0c2b1f4e01")
REFERRAL = uuid.UUID("6f1d2c3b-8a9e-4b7c-9d0e-1f2a3b4c5d6e")
DETAILS = CaseDetails(
    address=Address(postcode="3511AB", huisnummer=12, toevoeging="bis"),
    description="geluidsoverlast 's nachts",
    household_ref="hh-77",
    contact=Contact(phone="0612345678"),
    arrears=Arrears(amount_eur=Decimal("1250.50"), months=3),
)

EXAMPLES: list[Event] = [
    CaseOpened(case_id=CASE, corporation_id="woonstad", category="overlast.geluid", severity=Severity.URGENT,
               buurt_code="BU03630001", wijk_code="WK036300", details=DETAILS, opened_at=NOW),
    ComplaintReceived(case_id=CASE, complaint_id=uuid.uuid4(), corporation_id="woonstad",
                      category="overlast.geluid", buurt_code="BU03630001", repeat_count=2, received_at=NOW),
    CaseClosed(case_id=CASE, corporation_id="woonstad", outcome="opgelost", closed_at=NOW),
    CaseErased(case_id=CASE, erased_at=NOW),
    ReferralRequested(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht",
                      partner_type=PartnerType.SCHULDHULP, purpose="vroegsignalering-schulden",
                      legal_basis="Wgs art. 3a", category="overlast.geluid", severity=Severity.NORMAL,
                      buurt_code="BU03630001", details=DETAILS.restricted_to({"arrears", "household_ref"}),
                      respond_by=NOW + timedelta(days=3), resolve_by=NOW + timedelta(days=30), requested_at=NOW),
    EscalationRaised(escalation_id=uuid.uuid4(), case_id=CASE, level="coordinator",
                     reason="no response in time", referral_id=REFERRAL, raised_at=NOW),
    ReferralAccepted(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht", code="aangenomen",
                     accepted_at=NOW),
    ReferralDeclined(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht",
                     code="buiten_werkgebied", declined_at=NOW),
    PartnerRegistered(partner_id="schuldhulp-utrecht", name="Schuldhulp Utrecht",
                      partner_type=PartnerType.SCHULDHULP, region="GM0344", registered_at=NOW,
                      coordinator="coordinatie@schuldhulp.example"),
    AgreementChanged(agreement_id="conv-1", partner_id="schuldhulp-utrecht",
                     purposes=["vroegsignalering-schulden"], fields=["arrears", "household_ref"],
                     legal_basis="Wgs art. 3a", valid_from=date(2025, 1, 1), revision=1, changed_at=NOW),
    ReferralProgressed(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht",
                       code="contact_gelegd", text_for_corporation="eerste gesprek gevoerd", progressed_at=NOW),
    ReferralCompleted(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht",
                      code="opgelost", completed_at=NOW),
    ReferralWithdrawn(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht",
                      reason="casus gesloten", withdrawn_at=NOW),
    ReferralExpired(referral_id=REFERRAL, case_id=CASE, partner_id="schuldhulp-utrecht", deadline="respond",
                    due_at=NOW, expired_at=NOW),
    EscalationResolved(escalation_id=uuid.uuid4(), case_id=CASE, reason="casus gesloten", resolved_at=NOW),
    CaseReopened(case_id=CASE, corporation_id="woonstad", reason="opnieuw overlast", reopened_at=NOW),
    ObservationRecorded(observation_id=uuid.uuid4(), case_id=CASE, corporation_id="woonstad", observer="wb-01",
                        category="leefbaarheid.afval", buurt_code="BU03630001", wijk_code="WK036300",
                        note="grofvuil naast de container", recorded_at=NOW),
    SignalDetected(signal_id=uuid.uuid4(), kind="stuck", scope="BU03630001", buurt_code="BU03630001",
                   period_start=date(2026, 1, 1), period_end=date(2026, 3, 31),
                   evidence={"median_days": 41.5, "usual_median_days": 12.0, "cases": 7},
                   summary="overlast.geluid duurt in BU03630001 3,5x langer dan gewoonlijk", detected_at=NOW),
    AcceptReferral(referral_id=REFERRAL, code="aangenomen", note="we bellen morgen"),
    ReportProgress(referral_id=REFERRAL, code="huisbezoek_gepland", note="huisbezoek gepland"),
    CompleteReferral(referral_id=REFERRAL, code="opgelost", outcome="afgerond"),
    DeclineReferral(referral_id=REFERRAL, code="geen_capaciteit", reason="geen capaciteit"),
]


def test_every_registered_type_has_an_example() -> None:
    assert sorted(e.type_name() for e in EXAMPLES) == sorted(REGISTRY)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.event_type)
def test_round_trip(event: Event) -> None:
    event_id = uuid.uuid4()
    raw = encode(event, SOURCE, event_id)
    doc = json.loads(raw)
    assert doc["specversion"] == "1.0"
    assert doc["type"] == f"nl.samenwijk.{event.event_type}"
    assert doc["id"] == str(event_id)
    assert doc["source"] == SOURCE
    assert doc["datacontenttype"] == "application/json"
    assert doc["dataschema"] == type(event).schema_uri()
    assert doc["subject"] == event.subject()
    datetime.fromisoformat(doc["time"])

    envelope, decoded = decode(raw, REGISTRY)
    assert decoded == event
    assert type(decoded) is type(event)
    assert envelope.id == event_id and envelope.subject == event.subject()


def test_subject_is_the_case_id_for_case_events() -> None:
    for event in EXAMPLES:
        if "case_id" in type(event).model_fields:
            assert json.loads(encode(event, SOURCE))["subject"] == str(CASE), event.event_type


def test_the_content_type_is_structured_cloudevents() -> None:
    assert CONTENT_TYPE == "application/cloudevents+json"


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[]", b'{"specversion": "1.0"}'])
def test_garbage_is_a_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        decode(raw, REGISTRY)


def _envelope(type_: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE, "type": type_,
                       "subject": str(CASE), "time": NOW.isoformat(), "data": data}).encode()


@pytest.mark.parametrize("data", [
    {},
    {"case_id": "not-a-uuid", "erased_at": NOW.isoformat()},
    {"case_id": str(CASE), "erased_at": "yesterday"},
])
def test_bad_payload_is_a_validation_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        decode(_envelope(CaseErased.type_name(), data), REGISTRY)


def test_unknown_type_decodes_to_envelope_only() -> None:
    envelope, event = decode(_envelope("nl.samenwijk.thing.happened", {"anything": 1}), REGISTRY)
    assert event is None
    assert envelope.type == "nl.samenwijk.thing.happened" and envelope.data == {"anything": 1}


def test_a_type_outside_the_given_registry_is_skipped() -> None:
    _, event = decode(encode(EXAMPLES[-1], SOURCE), EVENTS)  # a command, given only the events
    assert event is None


def test_unknown_payload_fields_are_ignored() -> None:
    data = {"case_id": str(CASE), "erased_at": NOW.isoformat(), "added_in_a_later_release": True}
    _, event = decode(_envelope(CaseErased.type_name(), data), REGISTRY)
    assert event == CaseErased(case_id=CASE, erased_at=NOW)


def _keys_with_none(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in ([f"{path}{k}"] if v is None else _keys_with_none(v, f"{path}{k}."))]
    if isinstance(node, list):
        return [p for v in node for p in _keys_with_none(v, path)]
    return []


def test_none_valued_optional_fields_are_absent() -> None:
    minimal = CaseOpened(case_id=CASE, corporation_id="woonstad", category="overlast.geluid",
                         severity=Severity.NORMAL, buurt_code="BU03630001", wijk_code="WK036300",
                         details=CaseDetails(description="alleen dit"), opened_at=NOW)
    doc = json.loads(encode(minimal, SOURCE))
    assert _keys_with_none(doc) == []
    assert "handling_professional" not in doc["data"]
    assert doc["data"]["details"] == {"description": "alleen dit"}
    for event in EXAMPLES:
        assert _keys_with_none(json.loads(encode(event, SOURCE))) == [], event.event_type
