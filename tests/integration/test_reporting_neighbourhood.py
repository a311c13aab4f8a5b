"""Reporting on the real stack: protected figures, signals, rebuild from the event log, and
the dashboard in a real headless browser (Debian's chromium). The differencing attacks and
the access matrix are in tests/security."""

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from contracts.envelope import encode
from contracts.events import (
    Address,
    CaseClosed,
    CaseDetails,
    CaseOpened,
    ComplaintReceived,
    CustomerGroup,
    ObservationRecorded,
    Severity,
)
from contracts.topics import Topics
from samenwijk_dev import demo
from tests.integration.conftest import auth, produce, query, read_topic, wait_for

BUURT, WIJK = "BU03634503", "WK036345"
NOW = datetime.now(UTC).replace(microsecond=0)
BUILDING = Address(postcode="1024AD", huisnummer=8)
BUILDING_REF = "bld-" + uuid.uuid4().hex  # what intake would give that building


def _record(event, source="urn:test:intake"):
    return (event.subject().encode(), encode(event, source))


@pytest.fixture(scope="module")
def neighbourhood(stack):
    """Eight cases in one buurt, five of them closed with liveability costs, six complaints
    about one building in two families, observations of neglect."""
    records, case_ids = [], []
    for i in range(8):
        case_id = uuid.uuid4()
        case_ids.append(str(case_id))
        category = "overlast.geluid" if i < 5 else "leefbaarheid.vervuiling"
        opened = NOW - timedelta(days=40 - i, hours=i * 3)
        records.append(_record(CaseOpened(
            case_id=case_id, corporation_id="corp-het-anker", category=category, severity=Severity.NORMAL,
            buurt_code=BUURT, wijk_code=WIJK, details=CaseDetails(address=BUILDING, description="x"),
            handling_professional="wc-0042", opened_at=opened, building_ref=BUILDING_REF,
            customer_group=CustomerGroup(household_type="alleenstaand", age_band="65+"))))
        records.append(_record(ComplaintReceived(
            case_id=case_id, complaint_id=uuid.uuid4(), corporation_id="corp-het-anker", category=category,
            buurt_code=BUURT, repeat_count=1, received_at=opened)))
        if i < 5:
            records.append(_record(CaseClosed(case_id=case_id, corporation_id="corp-het-anker", outcome="opgelost",
                                              closed_at=opened + timedelta(days=10 + i),
                                              liveability_cost_eur=Decimal("1000.00"))))
    for i in range(6):
        obs = ObservationRecorded(observation_id=uuid.uuid4(), corporation_id="corp-het-anker", observer="wb-7",
                                  category="leefbaarheid.verloedering", buurt_code=BUURT, wijk_code=WIJK,
                                  recorded_at=NOW - timedelta(days=2, hours=i))
        records.append(_record(obs))
    produce(stack, Topics.CASES, records)
    wait_for(lambda: query(stack, "reporting", "SELECT count(*) FROM case_facts WHERE buurt_code = %s AND status = 'closed'",
                           BUURT)[0][0] == 5, 30, "reporting to project the neighbourhood")
    wait_for(lambda: query(stack, "reporting", "SELECT count(*) FROM observation_facts WHERE buurt_code = %s",
                           BUURT)[0][0] == 6, 30, "the observations")
    return case_ids


def get(stack, tokens, path, **params):
    r = httpx.get(stack.url("reporting") + path, params=params, headers=auth(tokens[demo.CORPORATIONS[0]]))
    assert r.status_code == 200, r.text
    return r.json()


def test_case_figures_per_buurt_category_and_month_are_protected(stack, tokens, neighbourhood):
    rows = get(stack, tokens, "/v1/kpis/cases", buurt=BUURT)
    geluid = [r for r in rows if r["category"] == "overlast.geluid"]
    assert geluid and all(r["new"] > 0 for r in rows)  # a row that rounds to nothing is not shown
    for r in rows:  # every count is a multiple of 5 (random rounding, within 4 of the truth)
        for k in ("new", "open", "closed", "response_breaches"):
            assert r[k] % 5 == 0, (k, r)
    assert 1 <= sum(r["new"] for r in geluid) <= 5 + 4 * len(geluid)  # five geluid cases in all
    for r in geluid:  # a median over fewer than 10 (published) closed cases is withheld
        assert r["median_days_to_resolve"] is None if r["closed"] < 10 else r["median_days_to_resolve"] % 1 == 0


def test_time_of_day_spend_and_goals(stack, tokens, neighbourhood):
    hours = get(stack, tokens, "/v1/kpis/time-of-day", wijk=WIJK)
    assert len(hours) == 7 * 24 * 2 and all(r["count"] % 5 == 0 for r in hours)
    assert {r["kind"] for r in hours} == {"complaint", "observation"}
    r = httpx.get(stack.url("reporting") + "/v1/kpis/spend", headers=auth(tokens[demo.ADMIN]))
    anker = {s["corporation_id"]: s for s in r.json()}["corp-het-anker"]
    assert anker["cases_with_cost"] % 5 == 0 and anker["cases_with_cost"] >= 5
    if anker["cases_with_cost"] < 10:  # too few households behind the sum: withheld
        assert anker["spend_eur"] is anker["spend_per_vhe_eur"] is anker["share_of_cap"] is None
    else:  # rounded to EUR 1,000; per VHE and the share of the cap from that
        assert anker["spend_eur"] % 1000 == 0
        assert anker["spend_per_vhe_eur"] == round(anker["spend_eur"] / anker["vhe"], 2)
    goals = {g["buurt_code"]: g for g in get(stack, tokens, "/v1/kpis/goals")}
    assert goals[BUURT]["vhe"] == 410 + 760 and goals[BUURT]["series"]


def test_signals_name_their_evidence_never_a_person(stack, tokens, neighbourhood):
    admin = auth(tokens[demo.ADMIN])
    r = httpx.post(stack.url("reporting") + "/v1/admin/signals/detect", headers=admin)
    assert r.status_code == 200, r.text
    kinds = {s["kind"]: s for s in get(stack, tokens, "/v1/signals") if s["buurt_code"] in (BUURT, None)}
    hotspot = kinds["hotspot"]
    # the background detection may have found it while the complaints were still arriving
    assert hotspot["evidence"]["complaints"] in (5, 10) and hotspot["evidence"]["category_families"] == 2
    # it names the buurt; the building not even by its reference (corp-de-linde has no case there)
    assert hotspot["scope"] == BUURT and hotspot["building_ref"] is None
    assert "1024AD" not in json.dumps(hotspot) and BUILDING_REF not in json.dumps(hotspot)
    r = httpx.get(stack.url("reporting") + "/v1/signals", headers=auth(tokens["corp-het-anker"]))
    assert BUILDING_REF in {s["building_ref"] for s in r.json() if s["kind"] == "hotspot"}  # its own cases
    assert "silent_decline" in kinds
    published = read_topic(stack, Topics.SIGNALS, lambda rs: any(json.loads(x.value)["data"]["kind"] == "hotspot"
                                                                  for x in rs))
    assert all("1024AD" not in x.value.decode() for x in published)
    # the same findings are not announced twice
    again = httpx.post(stack.url("reporting") + "/v1/admin/signals/detect", headers=admin).json()
    assert not [s for s in again if s["kind"] in ("hotspot", "silent_decline") and s["scope"] in
                (hotspot["scope"], BUURT)]


def test_rebuild_from_the_event_log_gives_the_same_figures(stack, tokens, neighbourhood):
    before = get(stack, tokens, "/v1/kpis/cases")
    admin = auth(tokens[demo.ADMIN])
    assert httpx.post(stack.url("reporting") + "/v1/admin/rebuild", headers=admin).status_code == 202
    progress = wait_for(lambda: (p := httpx.get(stack.url("reporting") + "/v1/admin/rebuild", headers=admin).json())
                        ["state"] in ("done", "failed") and p, 60, "the rebuild")
    assert progress["state"] == "done", progress
    assert progress["events"] >= progress["total"] > 0 and progress["events_per_second"] > 0
    after = get(stack, tokens, "/v1/kpis/cases")
    key = lambda r: (r["buurt_code"], r["category"], r["month"])  # noqa: E731
    assert {key(r): r for r in after if r["buurt_code"] == BUURT} == {key(r): r for r in before if r["buurt_code"] == BUURT}


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make installs it as root)")
def test_dashboard_in_a_real_browser(stack, tokens, neighbourhood, tmp_path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(stack.url("reporting") + "/dashboard")
        page.fill("input[name=token]", tokens[demo.CORPORATIONS[0]])
        page.click("button[type=submit]")
        page.wait_for_selector("svg.trend")
        assert page.locator("svg.trend rect.bar").count() >= 1
        assert page.locator("svg.heatmap rect.cell").count() == 7 * 24
        assert page.locator("figure.gauge svg").count() == 1  # a corporation sees its own spend only
        assert page.locator("li.signal").count() >= 1
        # a filter works: only the chosen category remains in the buurt table
        page.select_option("#filter-category", "leefbaarheid.vervuiling")
        page.click("form.filters button")
        page.wait_for_url("**category=leefbaarheid.vervuiling**")
        categories = set(page.locator("#buurten tbody td:nth-child(2)").all_inner_texts())
        assert categories <= {"leefbaarheid.vervuiling"}  # (three cases: their row may round to nothing)
        assert page.locator("#filter-category").input_value() == "leefbaarheid.vervuiling"
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
        browser.close()
    assert errors == []
