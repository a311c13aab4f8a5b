"""The escalation ladder and decline rerouting as data and pure decisions, with deadlines
computed from a fixed clock (Koningsdag and Christmas included)."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.events import PartnerType
from services.referral.domain.deadlines import due
from services.referral.domain.ladder import (
    Rung,
    breached,
    missed_deadline,
    next_candidate,
    nobody_to_take_it,
    repeat_threshold_reached,
)
from services.referral.domain.rules import DEFAULT_LADDER, Ladder, Route, RuleSet, load_rules

AMS = ZoneInfo("Europe/Amsterdam")
AMSTERDAM_RULES = Path(__file__).resolve().parents[2] / "services" / "referral" / "rules" / "GM0363-amsterdam.yaml"


@pytest.fixture(scope="module")
def amsterdam() -> RuleSet:
    return load_rules(AMSTERDAM_RULES)


@pytest.fixture(scope="module")
def overlast(amsterdam: RuleSet) -> Ladder:
    return amsterdam.ladder_for("overlast.geluid")


# -- which ladder -------------------------------------------------------------------------------


def test_every_overlast_category_climbs_the_overlast_ladder(amsterdam: RuleSet) -> None:
    for category in ("overlast.geluid", "overlast.stank", "overlast.drugs"):
        assert amsterdam.ladder_for(category).name == "overlast"


def test_care_categories_climb_to_the_zorg_en_veiligheidshuis(amsterdam: RuleSet) -> None:
    ladder = amsterdam.ladder_for("zorg.verward_gedrag")

    assert [s.level for s in ladder.steps] == ["coordinator", "casusoverleg", "zorg_en_veiligheidshuis"]


def test_a_rule_file_without_ladders_uses_the_default_ladder() -> None:
    rules = RuleSet.model_validate({"region": "GM0363", "rules": []})

    assert rules.ladder_for("overlast.geluid") is DEFAULT_LADDER


# -- every step of the ladder ----------------------------------------------------------------


def test_a_missed_deadline_goes_to_the_partners_coordinator(overlast: Ladder) -> None:
    rung = missed_deadline(overlast)

    assert rung.step.level == "coordinator"
    assert rung.step.owner is None  # the referral's own partner owns it


def test_still_nothing_at_the_coordinator_goes_to_casusoverleg_owned_by_the_municipality(overlast: Ladder) -> None:
    rung = missed_deadline(overlast).above()

    assert rung is not None and rung.step.level == "casusoverleg"
    assert rung.step.owner is not None and rung.step.owner.partner_type == PartnerType.GEMEENTE


def test_beyond_casusoverleg_overlast_goes_to_the_mayors_woonoverlast_track(overlast: Ladder) -> None:
    rung = nobody_to_take_it(overlast).above()

    assert rung is not None and rung.step.level == "woonoverlast"
    assert rung.step.owner is not None and rung.step.owner.purpose == "woonoverlast"


def test_the_top_of_the_ladder_has_no_step_above_and_no_timer(overlast: Ladder) -> None:
    top = Rung(overlast, len(overlast.steps) - 1)

    assert top.above() is None
    assert top.step.next_after is None


def test_a_decline_with_no_alternative_enters_at_casusoverleg(overlast: Ladder) -> None:
    assert nobody_to_take_it(overlast).step.level == "casusoverleg"


def test_a_trigger_for_a_missing_level_enters_at_the_next_level_up() -> None:
    ladder = Ladder(name="short", categories=["*"], steps=[
        {"level": "coordinator", "next_after": {"working_days": 2}}, {"level": "zorg_en_veiligheidshuis"}])

    assert nobody_to_take_it(ladder).step.level == "zorg_en_veiligheidshuis"


def test_the_third_overlast_complaint_goes_straight_to_woonoverlast(overlast: Ladder) -> None:
    assert repeat_threshold_reached(overlast, 1) is None
    assert repeat_threshold_reached(overlast, 2) is None
    rung = repeat_threshold_reached(overlast, 3)
    assert rung is not None and rung.step.level == "woonoverlast"


def test_care_ladder_has_no_repeat_threshold(amsterdam: RuleSet) -> None:
    assert repeat_threshold_reached(amsterdam.ladder_for("zorg.verward_gedrag"), 10) is None


@pytest.mark.parametrize(("deadline", "status", "missed"), [
    ("respond", "requested", True), ("respond", "accepted", False), ("respond", "declined", False),
    ("resolve", "requested", True), ("resolve", "accepted", True), ("resolve", "progressed", True),
    ("resolve", "completed", False), ("resolve", "withdrawn", False),
])
def test_a_deadline_is_breached_only_when_the_partner_has_not_acted(deadline: str, status: str, missed: bool) -> None:
    assert breached(deadline, status) is missed


def test_ladder_rejects_a_level_twice() -> None:
    with pytest.raises(ValueError, match="only once"):
        Ladder(name="x", categories=["*"], steps=[{"level": "coordinator"}, {"level": "coordinator"}])


def test_ladder_rejects_a_repeat_threshold_outside_its_steps() -> None:
    with pytest.raises(ValueError, match="not a step"):
        Ladder(name="x", categories=["*"], steps=[{"level": "coordinator"}],
               repeat_threshold={"complaints": 3, "level": "woonoverlast"})


# -- step deadlines on a fixed clock ----------------------------------------------------------


def test_coordinator_step_before_koningsdag_skips_the_holiday_and_weekend(overlast: Ladder) -> None:
    clock = datetime(2026, 4, 23, 10, 0, tzinfo=AMS)  # Thursday; Koningsdag is Monday 27 April
    step = missed_deadline(overlast).step

    # 5 working days: Fri 24, (weekend, Mon 27 Koningsdag) Tue 28, Wed 29, Thu 30, Fri 1 May
    assert due(clock, step.next_after) == datetime(2026, 5, 1, 10, 0, tzinfo=AMS)


def test_casusoverleg_step_over_christmas(overlast: Ladder) -> None:
    clock = datetime(2026, 12, 18, 9, 0, tzinfo=AMS)  # Friday
    step = nobody_to_take_it(overlast).step

    # 10 working days: 21-24 Dec, (25, 26 Christmas, weekend) 28-31 Dec, (1 Jan) 4, 5 Jan
    assert due(clock, step.next_after) == datetime(2027, 1, 5, 9, 0, tzinfo=AMS)


# -- decline rerouting -----------------------------------------------------------------------


ROUTE = Route.model_validate({
    "partner_type": "buurtbemiddeling", "purpose": "buurtbemiddeling", "legal_basis": "convenant",
    "respond": {"working_days": 5}, "resolve": {"working_days": 40},
    "alternatives": [{"partner_type": "welzijn", "legal_basis": "convenant welzijn"},
                     {"partner_type": "wijkteam", "purpose": "zorg-verwaarlozing"}],
})


def test_route_options_inherit_purpose_and_legal_basis() -> None:
    options = ROUTE.options()

    assert [(o.partner_type, o.purpose, o.legal_basis) for o in options] == [
        (PartnerType.BUURTBEMIDDELING, "buurtbemiddeling", "convenant"),
        (PartnerType.WELZIJN, "buurtbemiddeling", "convenant welzijn"),
        (PartnerType.WIJKTEAM, "zorg-verwaarlozing", "convenant"),
    ]


def test_first_choice_is_the_first_partner_of_the_routes_own_type() -> None:
    candidate = next_candidate(ROUTE, [["bb-noord", "bb-zuid"], ["welzijn-a"], []], tried=set())

    assert candidate is not None and (candidate.partner_id, candidate.option_index) == ("bb-noord", 0)


def test_a_decline_goes_to_another_partner_of_the_same_type_first() -> None:
    candidate = next_candidate(ROUTE, [["bb-noord", "bb-zuid"], ["welzijn-a"], []], tried={"bb-noord"})

    assert candidate is not None and candidate.partner_id == "bb-zuid"


def test_when_the_type_is_exhausted_the_alternatives_follow_in_order() -> None:
    candidate = next_candidate(ROUTE, [["bb-noord"], [], ["wijkteam-noord"]], tried={"bb-noord"})

    assert candidate is not None
    assert (candidate.partner_id, candidate.option.partner_type, candidate.option.purpose) == (
        "wijkteam-noord", PartnerType.WIJKTEAM, "zorg-verwaarlozing")


def test_nobody_left_after_every_decline() -> None:
    assert next_candidate(ROUTE, [["bb-noord"], ["welzijn-a"], []], tried={"bb-noord", "welzijn-a"}) is None


def test_the_shipped_rules_list_alternatives_for_buurtbemiddeling(amsterdam: RuleSet) -> None:
    route = amsterdam.route("overlast", "buurtbemiddeling")

    assert route is not None
    assert [o.partner_type for o in route.options()] == [PartnerType.BUURTBEMIDDELING, PartnerType.WELZIJN]
    assert amsterdam.route("overlast", "politie") is None
    assert amsterdam.route("no-such-rule", "buurtbemiddeling") is None

