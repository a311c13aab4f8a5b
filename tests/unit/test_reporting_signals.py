"""Reporting's rules: pseudonymous buildings, and when (protected) figures become a signal."""

from datetime import date

from pathlib import Path

from services.reporting.domain import model
from services.reporting.domain.reference import load_reference

START, END = date(2026, 8, 1), date(2026, 10, 30)


BUILDING = "bld-" + "0" * 32


def test_hotspot_needs_five_complaints_in_two_families_and_names_the_buurt():
    assert model.hotspot(BUILDING, "BU03634501", 0, 3, START, END) is None
    assert model.hotspot(BUILDING, "BU03634501", 10, 1, START, END) is None
    found = model.hotspot(BUILDING, "BU03634501", 5, 2, START, END, owners=("corp-a",))
    assert found is not None and found.evidence == {"complaints": 5, "category_families": 2}
    assert found.scope == "BU03634501" and BUILDING not in found.summary  # the signal names the buurt
    assert found.building_ref == BUILDING and found.owners == ("corp-a",)  # kept for its corporation
    assert found.key == f"hotspot/{BUILDING}/2026-10-30"  # one per building, though the scope is the buurt


def test_stuck_when_resolving_takes_twice_the_usual_time():
    assert model.stuck("BU1", "overlast.geluid", 30.0, 5, 20.0, 40, START, END) is None  # 1.5x
    found = model.stuck("BU1", "overlast.geluid", 44.0, 6, 20.0, 40, START, END)
    assert found is not None and found.evidence["ratio"] == 2.2 and found.evidence["median_days"] == 44
    assert model.stuck("BU1", "overlast.geluid", 44.0, 4, 20.0, 40, START, END) is None  # too few to say


def test_silent_decline_when_neglect_rises_and_complaints_do_not():
    found = model.silent_decline("BU1", observations_now=10, observations_before=5, complaints_now=0,
                                 complaints_before=0, start=START, end=END)
    assert found is not None
    assert found.evidence == {"observations": 10, "observations_before": 5, "complaints": 0, "complaints_before": 0}
    assert model.silent_decline("BU1", 10, 5, complaints_now=15, complaints_before=5, start=START, end=END) is None
    assert model.silent_decline("BU1", 10, 10, 0, 0, START, END) is None  # not rising enough


def test_arrears_trend_when_the_share_rises_by_half():
    assert model.arrears_trend("BU1", "BU1", 6, 20, 3, 20, START, END) is not None  # 30% vs 15%
    assert model.arrears_trend("BU1", "BU1", 6, 20, 5, 20, START, END) is None  # 30% vs 25%
    assert model.arrears_trend("BU1", "BU1", 4, 5, 0, 10, START, END) is None  # fewer than 5 arrears cases


def test_the_shipped_reference_data_loads():
    ref = load_reference(Path("services/reporting/reference/GM0363.yaml"))
    assert ref.units_in("BU03634501") == 820 + 300
    assert {g.buurt_code for g in ref.goals} >= {"BU03634501", "BU03634502"}
