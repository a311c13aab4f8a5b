"""Referral's domain: routing rules as data, working-day deadlines, and minimisation."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.events import Address, Arrears, CaseDetails, CaseOpened, Contact, PartnerType, Severity
from services.referral.domain.deadlines import add_working_days, due, is_working_day
from services.referral.domain.minimise import minimise, region_of
from services.referral.domain.rules import Deadline, Route, RuleFileError, RuleSet, load_rules

REPO = Path(__file__).resolve().parents[2]
AMSTERDAM_RULES = REPO / "services" / "referral" / "rules" / "GM0363-amsterdam.yaml"
AMS = ZoneInfo("Europe/Amsterdam")


def a_case(category: str, severity: Severity = Severity.NORMAL, arrears: Arrears | None = None) -> CaseOpened:
    return CaseOpened(
        case_id=uuid.uuid4(),
        corporation_id="corp-test",
        category=category,
        severity=severity,
        buurt_code="BU03634501",
        wijk_code="WK036345",
        details=CaseDetails(address=Address(postcode="1021AB", huisnummer=12), description="test", arrears=arrears),
        opened_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def amsterdam() -> RuleSet:
    return load_rules(AMSTERDAM_RULES)


def by_type(routes: list[Route]) -> dict[PartnerType, Route]:
    return {r.partner_type: r for r in routes}


# -- the shipped rule file -----------------------------------------------------------------


def test_shipped_amsterdam_rule_file_loads_for_its_region(amsterdam: RuleSet) -> None:
    assert amsterdam.region == "GM0363"
    assert amsterdam.rules


def test_confused_behaviour_is_referred_to_ggz_and_wijkteam(amsterdam: RuleSet) -> None:
    routes = amsterdam.routes_for(a_case("zorg.verward_gedrag"))

    assert sorted(r.partner_type for r in routes) == [PartnerType.GGZ, PartnerType.WIJKTEAM]
    assert all(r.respond.working_days is not None for r in routes)


def test_acute_confused_behaviour_also_goes_to_police_with_hour_deadlines(amsterdam: RuleSet) -> None:
    routes = by_type(amsterdam.routes_for(a_case("zorg.verward_gedrag", Severity.ACUTE)))

    assert set(routes) == {PartnerType.GGZ, PartnerType.WIJKTEAM, PartnerType.POLITIE}
    police = routes[PartnerType.POLITIE]
    assert police.respond.hours is not None and police.respond.working_days is None
    assert police.resolve.hours is not None and police.resolve.working_days is None


def test_non_acute_confused_behaviour_does_not_involve_police(amsterdam: RuleSet) -> None:
    for severity in (Severity.NORMAL, Severity.URGENT):
        routes = by_type(amsterdam.routes_for(a_case("zorg.verward_gedrag", severity)))
        assert PartnerType.POLITIE not in routes


def test_one_month_of_rent_arrears_is_not_referred(amsterdam: RuleSet) -> None:
    case = a_case("financieel.huurachterstand", arrears=Arrears(amount_eur=Decimal("850.00"), months=1))

    assert amsterdam.routes_for(case) == []


def test_two_months_of_rent_arrears_go_to_debt_counselling(amsterdam: RuleSet) -> None:
    case = a_case("financieel.huurachterstand", arrears=Arrears(amount_eur=Decimal("1700.00"), months=2))

    assert [r.partner_type for r in amsterdam.routes_for(case)] == [PartnerType.SCHULDHULP]


def test_rent_arrears_without_an_arrears_amount_is_not_referred(amsterdam: RuleSet) -> None:
    assert amsterdam.routes_for(a_case("financieel.huurachterstand")) == []


def test_cannabis_farm_goes_to_police(amsterdam: RuleSet) -> None:
    routes = amsterdam.routes_for(a_case("veiligheid.hennepkwekerij"))

    assert [r.partner_type for r in routes] == [PartnerType.POLITIE]
    assert routes[0].purpose == "opsporing-hennepteelt"


def test_category_without_a_rule_has_no_route(amsterdam: RuleSet) -> None:
    assert amsterdam.routes_for(a_case("leefbaarheid.afval")) == []


def test_first_route_per_partner_type_wins() -> None:
    rules = RuleSet.model_validate({
        "region": "GM0363",
        "rules": [
            {"name": "general", "match": {"category": ["overlast.drugs"]},
             "refer": [{"partner_type": "politie", "purpose": "first", "legal_basis": "b",
                        "respond": {"working_days": 5}, "resolve": {"working_days": 20}}]},
            {"name": "acute", "match": {"category": ["overlast.drugs"], "severity": ["acute"]},
             "refer": [{"partner_type": "politie", "purpose": "second", "legal_basis": "b",
                        "respond": {"hours": 4}, "resolve": {"hours": 48}},
                       {"partner_type": "ggz", "purpose": "care", "legal_basis": "b",
                        "respond": {"working_days": 2}, "resolve": {"working_days": 20}}]},
        ],
    })

    routes = rules.routes_for(a_case("overlast.drugs", Severity.ACUTE))

    assert [(r.partner_type, r.purpose) for r in routes] == [(PartnerType.POLITIE, "first"), (PartnerType.GGZ, "care")]


# -- load_rules error messages ---------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "GM0363-test.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


VALID_ROUTE = """\
      - partner_type: ggz
        purpose: zorg
        legal_basis: "AVG art. 6(1)(e)"
        respond: {working_days: 2}
        resolve: {working_days: 20}
"""


def test_a_valid_rule_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules:\n  - name: r\n    match: {category: [zorg.verward_gedrag]}\n"
                           "    refer:\n" + VALID_ROUTE)

    rules = load_rules(path)

    assert rules.rules[0].refer[0].respond == Deadline(working_days=2)


def test_yaml_syntax_error_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules:\n  - name: bad: colon\n")

    with pytest.raises(RuleFileError) as err:
        load_rules(path)

    message = str(err.value)
    assert str(path) in message
    assert "line 3" in message


def test_deadline_with_both_working_days_and_hours_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules:\n  - name: r\n    match: {category: [zorg.verward_gedrag]}\n"
                           "    refer:\n" + VALID_ROUTE.replace("{working_days: 2}", "{working_days: 2, hours: 4}"))

    with pytest.raises(RuleFileError) as err:
        load_rules(path)

    message = str(err.value)
    assert str(path) in message
    assert "rules.0.refer.0.respond" in message
    assert "exactly one of working_days or hours" in message


def test_deadline_with_neither_unit_is_rejected() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Deadline()


def test_unknown_key_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules:\n  - name: r\n    match: {category: [zorg.verward_gedrag], colour: red}\n"
                           "    refer:\n" + VALID_ROUTE)

    with pytest.raises(RuleFileError) as err:
        load_rules(path)

    message = str(err.value)
    assert str(path) in message
    assert "rules.0.match.colour" in message


def test_unknown_partner_type_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules:\n  - name: r\n    match: {category: [zorg.verward_gedrag]}\n"
                           "    refer:\n" + VALID_ROUTE.replace("partner_type: ggz", "partner_type: brandweer"))

    with pytest.raises(RuleFileError, match=r"rules\.0\.refer\.0\.partner_type"):
        load_rules(path)


def test_invalid_region_code_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "region: Amsterdam\nrules: []\n")

    with pytest.raises(RuleFileError, match="region"):
        load_rules(path)


# -- deadlines -------------------------------------------------------------------------------


def test_working_days_skip_the_weekend() -> None:
    friday = datetime(2026, 3, 6, 14, 30, tzinfo=AMS)

    assert add_working_days(friday, 1) == datetime(2026, 3, 9, 14, 30, tzinfo=AMS)  # Monday
    assert add_working_days(friday, 5) == datetime(2026, 3, 13, 14, 30, tzinfo=AMS)  # next Friday


def test_zero_working_days_is_the_start_itself() -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=AMS)

    assert add_working_days(saturday, 0) == saturday


def test_working_days_from_a_weekend_start_on_monday() -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=AMS)

    assert add_working_days(saturday, 1) == datetime(2026, 3, 9, 10, 0, tzinfo=AMS)


def test_kings_day_2026_a_monday_is_not_a_working_day() -> None:
    friday = datetime(2026, 4, 24, 9, 0, tzinfo=AMS)

    assert not is_working_day(datetime(2026, 4, 27).date())
    assert add_working_days(friday, 1) == datetime(2026, 4, 28, 9, 0, tzinfo=AMS)  # Tuesday


def test_kings_day_2025_fell_on_saturday_26_april() -> None:
    # 27 April 2025 was a Sunday, so Koningsdag moved to Saturday 26 April:
    # Friday 25 April and Monday 28 April were ordinary working days.
    assert not is_working_day(datetime(2025, 4, 26).date())
    assert is_working_day(datetime(2025, 4, 25).date())
    assert is_working_day(datetime(2025, 4, 28).date())
    thursday = datetime(2025, 4, 24, 9, 0, tzinfo=AMS)
    assert add_working_days(thursday, 2) == datetime(2025, 4, 28, 9, 0, tzinfo=AMS)


def test_christmas_and_boxing_day_are_skipped() -> None:
    thursday = datetime(2025, 12, 24, 16, 0, tzinfo=AMS)  # 25 (Thu) and 26 (Fri) Dec are holidays

    assert add_working_days(thursday, 1) == datetime(2025, 12, 29, 16, 0, tzinfo=AMS)


def test_new_years_day_is_skipped() -> None:
    wednesday = datetime(2025, 12, 31, 11, 0, tzinfo=AMS)  # 1 January 2026 is a Thursday

    assert add_working_days(wednesday, 1) == datetime(2026, 1, 2, 11, 0, tzinfo=AMS)


def test_working_days_across_the_year_end_count_holidays_of_both_years() -> None:
    tuesday = datetime(2025, 12, 23, 9, 0, tzinfo=UTC)
    # 24 Dec, (25, 26 Dec, weekend), 29, 30, 31 Dec, (1 Jan), 2 Jan
    assert add_working_days(tuesday, 5) == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


def test_due_in_working_days_uses_the_working_day_calendar() -> None:
    friday = datetime(2026, 4, 24, 9, 0, tzinfo=AMS)

    assert due(friday, Deadline(working_days=2)) == datetime(2026, 4, 29, 9, 0, tzinfo=AMS)


def test_due_in_hours_is_calendar_time_across_a_weekend() -> None:
    friday_evening = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)

    assert due(friday_evening, Deadline(hours=4)) == datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
    assert due(friday_evening, Deadline(hours=48)) == datetime(2026, 3, 8, 20, 0, tzinfo=UTC)


def test_due_in_hours_is_calendar_time_across_a_holiday() -> None:
    sunday_night = datetime(2026, 4, 26, 22, 0, tzinfo=AMS)

    assert due(sunday_night, Deadline(hours=4)) == datetime(2026, 4, 27, 2, 0, tzinfo=AMS)


def test_working_day_deadline_does_not_depend_on_the_timezone_of_the_start() -> None:
    # Friday 24 April 2026, 01:30 in Amsterdam == Thursday 23 April, 23:30 UTC.
    start_utc = datetime(2026, 4, 23, 23, 30, tzinfo=UTC)
    start_ams = start_utc.astimezone(AMS)
    assert start_ams == start_utc

    # One Dutch working day after Friday 01:30 (weekend, then Koningsdag) is Tuesday 01:30.
    expected = datetime(2026, 4, 28, 1, 30, tzinfo=AMS)
    assert due(start_ams, Deadline(working_days=1)) == expected
    assert due(start_utc, Deadline(working_days=1)) == expected  # UTC start gives Saturday 01:30


def test_hour_deadline_is_elapsed_time_across_a_dst_change() -> None:
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=AMS)  # DST starts Sunday 29 March 02:00

    deadline = due(saturday, Deadline(hours=48))

    assert deadline.astimezone(UTC) - saturday.astimezone(UTC) == timedelta(hours=48)


# -- minimisation --------------------------------------------------------------------------


FULL_DETAILS = CaseDetails(
    address=Address(postcode="1021AB", huisnummer=12, toevoeging="A"),
    description="loud music every night",
    care_signal="resident seems confused, neglects himself",
    household_ref="hh-123",
    contact=Contact(phone="0612345678"),
    arrears=Arrears(amount_eur=Decimal("1700.00"), months=2),
)


def test_minimise_keeps_only_allowed_fields() -> None:
    minimal = minimise(FULL_DETAILS, {"address", "description"})

    assert isinstance(minimal, CaseDetails)
    assert minimal.address == FULL_DETAILS.address
    assert minimal.description == FULL_DETAILS.description
    assert minimal.care_signal is None
    assert minimal.household_ref is None
    assert minimal.contact is None
    assert minimal.arrears is None


def test_minimised_details_serialise_without_the_dropped_fields() -> None:
    minimal = minimise(FULL_DETAILS, {"address", "description"})

    dumped = minimal.model_dump(exclude_none=True)

    assert set(dumped) == {"address", "description"}
    assert "confused" not in minimal.model_dump_json()


def test_restricted_to_drops_allowed_fields_that_are_empty() -> None:
    details = CaseDetails(description="only a description")

    restricted = details.restricted_to(["address", "description", "contact"])

    assert isinstance(restricted, CaseDetails)
    assert restricted.model_dump(exclude_unset=True) == {"description": "only a description"}


def test_restricted_to_nothing_allowed_is_empty() -> None:
    assert FULL_DETAILS.restricted_to(set()) == CaseDetails()


def test_restricted_to_ignores_names_that_are_not_case_fields() -> None:
    restricted = FULL_DETAILS.restricted_to({"arrears", "reporter", "bsn"})

    assert restricted == CaseDetails(arrears=FULL_DETAILS.arrears)


def test_region_of_a_buurt_code_is_its_gemeente() -> None:
    assert region_of("BU03634501") == "GM0363"
    assert region_of("BU05990102") == "GM0599"


# -- validation errors name the line -----------------------------------------------------------


def test_validation_error_names_the_line_of_the_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules:\n  - name: r\n    match: {category: [zorg.verward_gedrag]}\n"
                           "    refer:\n" + VALID_ROUTE.replace("partner_type: ggz", "partner_type: brandweer"))

    with pytest.raises(RuleFileError) as err:
        load_rules(path)

    assert f"{path}: line 6: rules.0.refer.0.partner_type" in str(err.value)


def test_unknown_ladder_level_names_file_line_and_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "region: GM0363\nrules: []\nladders:\n  - name: l\n    categories: ['overlast.*']\n"
                           "    steps:\n      - level: coordinator\n      - level: burgemeester\n")

    with pytest.raises(RuleFileError) as err:
        load_rules(path)

    assert f"{path}: line 8: ladders.0.steps.1.level" in str(err.value)


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    rule = "  - name: r\n    match: {category: [zorg.verward_gedrag]}\n    refer:\n" + VALID_ROUTE
    path = write(tmp_path, "region: GM0363\nrules:\n" + rule + rule)

    with pytest.raises(RuleFileError, match="unique"):
        load_rules(path)


# -- household signals -------------------------------------------------------------------------


def test_nuisance_with_a_care_signal_also_goes_to_the_wijkteam(amsterdam: RuleSet) -> None:
    plain = a_case("overlast.geluid")
    with_care = plain.model_copy(update={"details": plain.details.model_copy(update={"care_signal": "vereenzaamd"})})

    assert [r.partner_type for r in amsterdam.routes_for(plain)] == [PartnerType.BUURTBEMIDDELING]
    assert [r.partner_type for r in amsterdam.routes_for(with_care)] == [PartnerType.BUURTBEMIDDELING,
                                                                       PartnerType.WIJKTEAM]


def test_matching_routes_name_the_rule_each_route_came_from(amsterdam: RuleSet) -> None:
    routes = amsterdam.matching_routes(a_case("zorg.verward_gedrag", Severity.ACUTE))

    assert sorted((name, r.partner_type.value) for name, r in routes) == [
        ("verward-gedrag", "ggz"), ("verward-gedrag", "wijkteam"), ("verward-gedrag-acuut", "politie")]



def test_repeated_nuisance_still_goes_to_buurtbemiddeling_first(amsterdam: RuleSet) -> None:
    case = a_case("overlast.geluid")

    for repeat_count in (1, 2, 5):
        assert [r.partner_type for r in amsterdam.routes_for(case, repeat_count)] == [PartnerType.BUURTBEMIDDELING]


def test_min_repeat_rules_match_from_that_repeat_count_on() -> None:
    rules = RuleSet.model_validate({"region": "GM0363", "rules": [
        {"name": "herhaald", "match": {"category": ["overlast.geluid"], "min_repeat": 2},
         "refer": [{"partner_type": "wijkteam", "purpose": "p", "legal_basis": "b",
                    "respond": {"working_days": 5}, "resolve": {"working_days": 30}}]}]})

    assert rules.routes_for(a_case("overlast.geluid"), repeat_count=1) == []
    assert [r.partner_type for r in rules.routes_for(a_case("overlast.geluid"), repeat_count=2)] == [PartnerType.WIJKTEAM]
