"""Domain models of intake (submitted cases), partners (registry, responses) and reporting."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.envelope import encode
from contracts.events import SHAREABLE_FIELDS, CaseDetails, CaseOpened, ComplaintReceived, PartnerType
from services.intake.domain.model import TAXONOMY, NewCase, Reporter, open_case
from services.partners.domain.model import (
    AgreementSeed,
    IllegalTransition,
    ReferralStatus,
    check_response,
    load_registry,
)

REPO = Path(__file__).resolve().parents[2]
DEMO_PARTNERS = REPO / "services" / "partners" / "seed" / "demo-partners.yaml"
NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)

REPORTER_NAME = "Jantje Buurvrouw"
REPORTER_PHONE = "0698765432"


def new_case(**overrides: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "category": "overlast.geluid",
        "severity": "urgent",
        "address": {"postcode": "1021AB", "huisnummer": 12},
        "buurt_code": "BU03634501",
        "wijk_code": "WK036345",
        "description": "loud music every night after midnight",
    }
    case.update(overrides)
    return case


# -- intake: NewCase -----------------------------------------------------------------------


def test_a_valid_case_is_accepted() -> None:
    case = NewCase.model_validate(new_case())

    assert case.category == "overlast.geluid"
    assert case.reporter.anonymous is True


def test_every_taxonomy_category_is_accepted() -> None:
    for category in TAXONOMY:
        assert NewCase.model_validate(new_case(category=category)).category == category


def test_category_outside_the_taxonomy_is_rejected_and_named() -> None:
    with pytest.raises(ValidationError) as err:
        NewCase.model_validate(new_case(category="overlast.vuurwerk"))

    assert "overlast.vuurwerk" in str(err.value)


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        NewCase.model_validate(new_case(bsn="123456782"))

    assert any(e["type"] == "extra_forbidden" and e["loc"] == ("bsn",) for e in err.value.errors())


def test_anonymous_reporter_with_a_name_is_rejected() -> None:
    with pytest.raises(ValidationError, match="anonymous"):
        NewCase.model_validate(new_case(reporter={"anonymous": True, "name": REPORTER_NAME}))


def test_anonymous_reporter_with_a_phone_is_rejected() -> None:
    with pytest.raises(ValidationError, match="anonymous"):
        Reporter(anonymous=True, phone=REPORTER_PHONE)


def test_named_reporter_is_accepted() -> None:
    case = NewCase.model_validate(new_case(reporter={"anonymous": False, "name": REPORTER_NAME}))

    assert case.reporter.name == REPORTER_NAME


def test_buurt_and_wijk_of_different_municipalities_are_rejected() -> None:
    with pytest.raises(ValidationError, match="is not in wijk"):
        NewCase.model_validate(new_case(buurt_code="BU03634501", wijk_code="WK059901"))


def test_buurt_outside_the_given_wijk_is_rejected() -> None:
    with pytest.raises(ValidationError):
        NewCase.model_validate(new_case(buurt_code="BU03634501", wijk_code="WK036399"))


@pytest.mark.parametrize("postcode", ["0123AB", "102AB", "1021A", "ABCDEF", ""])
def test_invalid_postcode_is_rejected(postcode: str) -> None:
    with pytest.raises(ValidationError) as err:
        NewCase.model_validate(new_case(address={"postcode": postcode, "huisnummer": 12}))

    assert any(e["loc"] == ("address", "postcode") for e in err.value.errors())


@pytest.mark.parametrize("field,value", [("buurt_code", "BU0363"), ("wijk_code", "036345")])
def test_malformed_neighbourhood_code_is_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        NewCase.model_validate(new_case(**{field: value}))


# -- intake: open_case ---------------------------------------------------------------------


def test_open_case_yields_case_opened_and_first_complaint_of_the_same_case() -> None:
    new = NewCase.model_validate(new_case())

    case_id, complaint_id, opened, complaint = open_case(new, "corp-ymere", NOW)

    assert isinstance(opened, CaseOpened)
    assert isinstance(complaint, ComplaintReceived)
    assert opened.case_id == complaint.case_id == case_id
    assert complaint.complaint_id == complaint_id
    assert complaint.repeat_count == 1
    assert opened.corporation_id == complaint.corporation_id == "corp-ymere"
    assert opened.category == complaint.category == "overlast.geluid"
    assert opened.opened_at == complaint.received_at == NOW


def test_open_case_carries_the_shareable_details() -> None:
    new = NewCase.model_validate(new_case(care_signal="seems confused", household_ref="hh-1",
                                          contact={"phone": "0611111111"}))

    _, _, opened, _ = open_case(new, "corp-ymere", NOW)

    assert opened.details.description == new.description
    assert opened.details.care_signal == "seems confused"
    assert opened.details.household_ref == "hh-1"
    assert opened.details.address == new.address


def test_each_opened_case_gets_a_new_id() -> None:
    new = NewCase.model_validate(new_case())

    assert open_case(new, "corp", NOW)[0] != open_case(new, "corp", NOW)[0]


def test_reporter_is_not_part_of_case_opened() -> None:
    new = NewCase.model_validate(new_case(
        reporter={"anonymous": False, "name": REPORTER_NAME, "phone": REPORTER_PHONE}))

    _, _, opened, complaint = open_case(new, "corp-ymere", NOW)

    assert "reporter" not in CaseOpened.model_fields
    assert "reporter" not in CaseDetails.model_fields
    for event in (opened, complaint):
        wire = encode(event, "urn:nld:samenwijk:intake").decode()
        assert REPORTER_NAME not in wire
        assert REPORTER_PHONE not in wire
        assert "reporter" not in json.loads(wire)["data"]


# -- partners: responses -------------------------------------------------------------------


@pytest.mark.parametrize("wanted", [ReferralStatus.ACCEPTED, ReferralStatus.DECLINED])
def test_delivered_referral_can_be_accepted_or_declined(wanted: ReferralStatus) -> None:
    assert check_response(ReferralStatus.DELIVERED, wanted, same_content=False) is True


def test_repeating_the_same_response_is_an_idempotent_no_op() -> None:
    assert check_response(ReferralStatus.ACCEPTED, ReferralStatus.ACCEPTED, same_content=True) is False


def test_repeating_a_response_with_different_content_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="different content"):
        check_response(ReferralStatus.ACCEPTED, ReferralStatus.ACCEPTED, same_content=False)


@pytest.mark.parametrize("current,wanted", [
    (ReferralStatus.DECLINED, ReferralStatus.ACCEPTED),
    (ReferralStatus.ACCEPTED, ReferralStatus.DECLINED),
    (ReferralStatus.HELD, ReferralStatus.ACCEPTED),
    (ReferralStatus.ACCEPTED, ReferralStatus.DELIVERED),
])
def test_changing_a_final_or_held_response_is_illegal(current: ReferralStatus, wanted: ReferralStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        check_response(current, wanted, same_content=True)

    assert current.value in str(err.value) and wanted.value in str(err.value)


# -- partners: registry seed ---------------------------------------------------------------


def agreement(**overrides: Any) -> dict[str, Any]:
    seed: dict[str, Any] = {"agreement_id": "conv-test", "purposes": ["zorg"], "fields": ["address", "description"],
                            "legal_basis": "AVG art. 6(1)(e)", "valid_from": "2026-01-01"}
    seed.update(overrides)
    return seed


def test_agreement_with_shareable_fields_is_accepted() -> None:
    seed = AgreementSeed.model_validate(agreement(fields=list(SHAREABLE_FIELDS)))

    assert seed.valid_from == date(2026, 1, 1)


def test_agreement_with_an_unknown_field_name_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown fields") as err:
        AgreementSeed.model_validate(agreement(fields=["address", "reporter_name"]))

    assert "reporter_name" in str(err.value)


def test_agreement_without_a_purpose_is_rejected() -> None:
    with pytest.raises(ValidationError):
        AgreementSeed.model_validate(agreement(purposes=[]))


def test_shipped_demo_partners_load() -> None:
    registry = load_registry(DEMO_PARTNERS)

    assert registry.partners
    assert len({p.partner_id for p in registry.partners}) == len(registry.partners)
    assert {p.region for p in registry.partners} == {"GM0363"}


def test_shipped_police_agreements_never_include_care_details() -> None:
    registry = load_registry(DEMO_PARTNERS)
    police = [p for p in registry.partners if p.partner_type == PartnerType.POLITIE]

    assert police and all(p.agreements for p in police)
    for partner in police:
        for a in partner.agreements:
            assert "care_signal" not in a.fields
