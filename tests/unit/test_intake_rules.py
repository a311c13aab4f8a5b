"""Intake's domain rules: reference buurten, taxonomy and VERA mapping, repeat window,
idempotency, closing/reopening/erasure and part status order."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from services.intake.domain import reference
from services.intake.domain.model import (
    STATUS_RANK,
    TAXONOMY,
    VERA_OVERLAST,
    VERA_SOORT,
    IdempotencyConflict,
    IllegalTransition,
    NewCase,
    NewObservation,
    PartStatus,
    VeraSignalering,
    address_key,
    check_close,
    check_reopen,
    erasable,
    expired_rank,
    fingerprint,
    joins_open_case,
    open_case,
    repeat_complaint,
    replay,
)
from services.intake.entrypoints.http import Submission

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
UNIT = {"postcode": "1024AB", "huisnummer": 5, "buurtcode": "BU03634501", "wijkcode": "WK036345"}


def case(**overrides):
    body = {"category": "overlast.geluid", "address": {"postcode": "1024AB", "huisnummer": 5},
            "buurt_code": "BU03634501", "wijk_code": "WK036345", "description": "bonken"}
    return NewCase.model_validate({**body, **overrides})


def vera(**overrides):
    return VeraSignalering.model_validate({"soort": "overlast", "eenheid": UNIT, "omschrijving": "x", **overrides})


# -- reference buurten ---------------------------------------------------------------------

def test_every_buurt_the_tests_and_demo_use_is_in_the_shipped_reference_list():
    used = set()
    for path in [*REPO.glob("tests/**/*.py"), *REPO.glob("samenwijk_dev/*.py")]:
        import re
        used |= set(re.findall(r"BU0363[0-9]{4}", path.read_text()))
    served = reference.load(reference.SHIPPED).wijk_of
    assert used - {"BU03639999"} <= set(served)


def test_a_buurt_outside_the_reference_list_is_refused_and_named():
    with pytest.raises(ValidationError, match="BU03639999 is not in the reference list"):
        case(buurt_code="BU03639999", wijk_code="WK036399")


def test_a_buurt_in_another_wijk_than_its_own_is_refused():
    with pytest.raises(ValidationError, match="not in wijk WK036300"):
        case(buurt_code="BU03634501", wijk_code="WK036300")


def test_customer_group_takes_categories_only():
    opened = open_case(case(customer_group={"household_type": "alleenstaand", "age_band": "65+"}), "corp", NOW)[2]
    assert opened.customer_group.household_type == "alleenstaand" and opened.customer_group.age_band == "65+"
    with pytest.raises(ValidationError):
        case(customer_group={"household_type": "familie Jansen"})


def test_a_bsn_as_household_ref_is_refused():
    with pytest.raises(ValidationError, match="BSN"):
        case(household_ref="111222333")  # passes the elfproef
    assert case(household_ref="hh-111222333").household_ref == "hh-111222333"


def test_a_toevoeging_is_letters_or_digits():
    assert case(address={"postcode": "1024AB", "huisnummer": 5, "toevoeging": "2h"}).address.toevoeging == "2h"
    with pytest.raises(ValidationError, match="toevoeging"):
        case(address={"postcode": "1024AB", "huisnummer": 5, "toevoeging": "2-h"})


# -- VERA Signalering ----------------------------------------------------------------------

def test_every_vera_soort_maps_into_the_taxonomy():
    assert set(VERA_SOORT.values()) | set(VERA_OVERLAST.values()) <= set(TAXONOMY)


@pytest.mark.parametrize("soort,subsoort,category", [
    ("overlast", "drugs", "overlast.drugs"), ("overlast", None, "overlast.geluid"),
    ("wietplantage", None, "veiligheid.hennepkwekerij"), ("onderhuur", None, "veiligheid.woonfraude"),
    ("verward_gedrag", None, "zorg.verward_gedrag"),
])
def test_vera_soort_is_mapped_to_its_category(soort, subsoort, category):
    assert vera(soort=soort, subsoort=subsoort).to_new_case().category == category


def test_a_huurschuld_signal_carries_amount_and_months_into_the_case():
    new = vera(soort="huurschuld", urgentie="hoog", huurschuld={"bedrag": "1250.40", "aantalMaanden": 3},
               huishouden={"pseudoniem": "hh-9", "huishoudtype": "eenoudergezin", "leeftijdscategorie": "30-44"},
               eenheid={**UNIT, "huisnummertoevoeging": "A"}).to_new_case()
    assert new.category == "financieel.huurachterstand" and new.severity == "urgent"
    assert new.arrears.amount_eur == Decimal("1250.40") and new.arrears.months == 3
    assert new.household_ref == "hh-9" and new.customer_group.household_type == "eenoudergezin"
    assert new.address.toevoeging == "A" and new.buurt_code == UNIT["buurtcode"]


def test_a_huurschuld_signal_without_arrears_is_refused():
    with pytest.raises(ValidationError, match="huurschuld"):
        vera(soort="huurschuld")


def test_unknown_soort_and_unserved_buurt_are_refused_in_the_vera_shape():
    with pytest.raises(ValidationError, match="soort 'brand'"):
        vera(soort="brand")
    with pytest.raises(ValidationError, match="reference list"):
        vera(eenheid={**UNIT, "buurtcode": "BU03639999", "wijkcode": "WK036399"})


def test_the_body_shape_is_chosen_by_soort():
    adapter = TypeAdapter(Submission)
    assert isinstance(adapter.validate_python({"soort": "overlast", "eenheid": UNIT, "omschrijving": "x"}),
                      VeraSignalering)
    assert isinstance(adapter.validate_python(case().model_dump(mode="json")), NewCase)


# -- repeat complaints ---------------------------------------------------------------------

def test_a_complaint_within_the_window_joins_and_one_after_it_does_not():
    window = timedelta(days=90)
    assert joins_open_case(NOW - timedelta(days=90), NOW, window)
    assert not joins_open_case(NOW - timedelta(days=90, seconds=1), NOW, window)
    assert not joins_open_case(NOW, NOW, timedelta(0))  # a zero window never joins


def test_a_repeat_complaint_counts_on_from_the_complaints_so_far():
    new = case()
    first = open_case(new, "corp", NOW)
    repeat = repeat_complaint(first[0], "corp", new, 2, NOW)
    assert repeat.case_id == first[0] and repeat.repeat_count == 3 and repeat.complaint_id != first[1]


def test_the_unit_key_ignores_the_case_of_the_toevoeging():
    a = case(address={"postcode": "1024AB", "huisnummer": 5, "toevoeging": "a"}).address
    b = case(address={"postcode": "1024AB", "huisnummer": 5, "toevoeging": "A"}).address
    assert address_key(a) == address_key(b) != address_key(case().address)


# -- idempotency ---------------------------------------------------------------------------

KEY = b"k" * 32


def test_the_same_body_replays_and_another_body_conflicts():
    replay(fingerprint("samenwijk", case(), KEY), fingerprint("samenwijk", case(), KEY))
    with pytest.raises(IdempotencyConflict):
        replay(fingerprint("samenwijk", case(), KEY), fingerprint("samenwijk", case(description="anders"), KEY))


def test_the_fingerprint_is_keyed_so_a_guessed_body_does_not_match_it():
    import hashlib
    body = case()
    unkeyed = hashlib.sha256(f"samenwijk:{body.model_dump_json()}".encode()).hexdigest()
    assert fingerprint("samenwijk", body, KEY) != unkeyed
    assert fingerprint("samenwijk", body, KEY) != fingerprint("samenwijk", body, b"other-key" * 4)


# -- closing, reopening, erasure -----------------------------------------------------------

def test_only_an_open_case_closes_and_only_a_closed_case_reopens():
    check_close("open")
    check_reopen("closed")
    for status in ("closed", "erased"):
        with pytest.raises(IllegalTransition):
            check_close(status)
    for status in ("open", "erased"):
        with pytest.raises(IllegalTransition):
            check_reopen(status)


def test_a_closed_case_is_erasable_once_retention_has_passed():
    retention = timedelta(days=730)
    assert erasable("closed", NOW - retention, NOW, retention)
    assert not erasable("closed", NOW - retention + timedelta(seconds=1), NOW, retention)
    assert not erasable("open", None, NOW, retention)
    assert not erasable("erased", NOW - 2 * retention, NOW, retention)


# -- observations and parts ----------------------------------------------------------------

def test_an_observation_may_be_for_a_whole_buurt_but_not_outside_the_served_ones():
    seen = NewObservation(category="leefbaarheid.afval", buurt_code="BU03634502", wijk_code="WK036345",
                          observer="wb-12")
    assert seen.address is None
    with pytest.raises(ValidationError):
        NewObservation(category="leefbaarheid.afval", buurt_code="BU03639999", wijk_code="WK036399", observer="wb-12")


def test_part_status_only_moves_forward():
    assert STATUS_RANK[PartStatus.REQUESTED] < STATUS_RANK[PartStatus.ACCEPTED] < STATUS_RANK[PartStatus.IN_PROGRESS]
    assert STATUS_RANK[PartStatus.IN_PROGRESS] < STATUS_RANK[PartStatus.COMPLETED] == STATUS_RANK[PartStatus.WITHDRAWN]
    # a late acceptance overtakes a missed respond deadline; a missed resolve deadline stays visible
    assert expired_rank("respond") <= STATUS_RANK[PartStatus.ACCEPTED]
    assert expired_rank("resolve") >= STATUS_RANK[PartStatus.IN_PROGRESS]


# -- client credentials --------------------------------------------------------------------

def test_a_client_secret_is_kept_as_a_salted_hash_that_only_the_secret_matches():
    from runtime.auth import hash_client_secret, new_client_secret, verify_client_secret
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    assert secret not in stored and stored.startswith("scrypt$")
    assert stored != hash_client_secret(secret)  # salted
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret + "x", stored)
    assert not verify_client_secret(secret, "plain-text")
