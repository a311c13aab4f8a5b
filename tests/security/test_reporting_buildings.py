"""No address pseudonym in reporting, hotspots that name the buurt, and case.erased in
reporting (issue 11, items 4 and 5), against the real stack: cases go in through intake's
API, as a corporation files them."""

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime

import httpx
import pytest

from contracts.envelope import encode
from contracts.events import CaseErased
from contracts.topics import Topics
from samenwijk_dev import demo
from tests.integration.conftest import auth, produce, query, read_topic, submit, wait_for

pytestmark = pytest.mark.integration

BUURT, WIJK = "BU03630001", "WK036300"
POSTCODE, HUISNUMMER = "1097XY", 12
OWNER, OTHER = demo.CORPORATIONS


def _body(category: str, huisnummer: int = HUISNUMMER) -> dict:
    return {"category": category, "severity": "normal", "buurt_code": BUURT, "wijk_code": WIJK,
            "address": {"postcode": POSTCODE, "huisnummer": huisnummer, "toevoeging": "A"},
            "description": "synthetisch", "reporter": {"anonymous": True}, "handling_professional": "wc-0777"}


@pytest.fixture(scope="module")
def building(stack, tokens):
    """Six cases at one building in two families, and one next door."""
    cases = [submit(stack, tokens, _body(c), OWNER) for c in ["overlast.geluid"] * 3 + ["leefbaarheid.vervuiling"] * 3]
    neighbour = submit(stack, tokens, _body("overlast.geluid", HUISNUMMER + 2), OWNER)
    wait_for(lambda: query(stack, "reporting", "SELECT count(*) FROM case_facts WHERE case_id::text = ANY(%s)",
                           cases + [neighbour])[0][0] == 7, 60, "reporting to project the cases")
    return cases, neighbour


def test_reporting_gets_a_random_building_reference_not_the_address(stack, building):
    cases, neighbour = building
    refs = dict(query(stack, "intake", "SELECT case_id::text, building_ref FROM cases WHERE case_id::text = ANY(%s)",
                      cases + [neighbour]))
    assert len({refs[c] for c in cases}) == 1 and refs[neighbour] != refs[cases[0]]
    assert all(re.fullmatch(r"bld-[0-9a-f]{32}", r) for r in refs.values())
    # only intake maps it back
    assert query(stack, "intake", "SELECT postcode, huisnummer FROM buildings WHERE building_ref = %s",
                 refs[cases[0]]) == [(POSTCODE, HUISNUMMER)]
    in_reporting = dict(query(stack, "reporting", "SELECT case_id::text, building_ref FROM case_facts"
                              " WHERE case_id::text = ANY(%s)", cases + [neighbour]))
    assert in_reporting == refs


def test_no_address_and_no_brute_forceable_pseudonym_anywhere_in_reporting(stack, building):
    columns = query(stack, "reporting", "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'character varying', 'ARRAY')")
    # the old scheme: HMAC(postcode|huisnummer) under the shipped key; try a whole postcode's numbers
    old_key = b"dev-only-location-key-change-me"
    guesses = {"loc-" + hmac.new(old_key, f"{POSTCODE}|{n}".encode(), hashlib.sha256).hexdigest()[:16]
               for n in range(1, 10000)}
    found, tried = [], 0
    for table, column in columns:
        values = [v for (v,) in query(stack, "reporting", f'SELECT "{column}"::text FROM "{table}"') if v]
        tried += len(values)
        found += [(table, column) for v in values if POSTCODE in v or any(g in v for g in guesses if "loc-" in v)]
    assert tried > 0 and not found, found
    assert not query(stack, "reporting", "SELECT 1 FROM information_schema.columns WHERE column_name = 'location_key'")


def test_a_hotspot_names_the_buurt_and_the_building_only_to_its_corporation(stack, tokens, building):
    cases, _ = building
    ref = query(stack, "intake", "SELECT building_ref FROM cases WHERE case_id = %s", cases[0])[0][0]
    found = httpx.post(stack.url("reporting") + "/v1/admin/signals/detect", headers=auth(tokens[demo.ADMIN]),
                       timeout=30)
    assert found.status_code == 200, found.text

    def hotspots(org: str) -> list[dict]:
        r = httpx.get(stack.url("reporting") + "/v1/signals", headers=auth(tokens[org]), timeout=30)
        return [s for s in r.json() if s["kind"] == "hotspot" and s["buurt_code"] == BUURT]

    own = wait_for(lambda: [s for s in hotspots(OWNER) if s["building_ref"] == ref], 30, "the hotspot")
    assert own[0]["scope"] == BUURT and POSTCODE not in json.dumps(own)
    for org in (OTHER, "politie-amsterdam", "ggz-noord", demo.ADMIN):
        seen = hotspots(org)
        assert seen and all(s["building_ref"] is None and s["scope"] == BUURT for s in seen), (org, seen)
        assert ref not in json.dumps(seen)
    # the corporation resolves it at intake; another corporation cannot
    r = httpx.get(stack.url("intake") + f"/v1/buildings/{ref}", headers=auth(tokens[OWNER]))
    assert r.status_code == 200 and r.json()["postcode"] == POSTCODE and len(r.json()["cases"]) >= 6
    assert httpx.get(stack.url("intake") + f"/v1/buildings/{ref}", headers=auth(tokens[OTHER])).status_code == 404
    assert httpx.get(stack.url("intake") + f"/v1/buildings/{ref}",
                     headers=auth(tokens["politie-amsterdam"])).status_code == 403
    # and on the topic every consumer reads: the buurt, never the building
    published = read_topic(stack, Topics.SIGNALS, lambda rs: any(
        json.loads(x.value)["data"]["kind"] == "hotspot" and json.loads(x.value)["data"]["buurt_code"] == BUURT
        for x in rs))
    assert all(ref not in x.value.decode() and POSTCODE not in x.value.decode() for x in published)


def test_case_erased_removes_the_case_facts_and_the_building_from_signals(stack, tokens, building):
    cases, neighbour = building
    ref = query(stack, "intake", "SELECT building_ref FROM cases WHERE case_id = %s", cases[0])[0][0]
    erased = cases + [neighbour]
    produce(stack, Topics.CASES, [(c.encode(), encode(CaseErased(case_id=c, erased_at=datetime.now(UTC)),
                                                      "urn:nld:samenwijk:test:intake")) for c in erased])
    wait_for(lambda: query(stack, "reporting", "SELECT count(*) FROM case_facts WHERE case_id::text = ANY(%s)",
                           erased)[0][0] == 0, 60, "reporting to erase the case facts")
    for table in ("complaint_facts", "referral_facts", "escalation_facts"):
        assert query(stack, "reporting", f"SELECT count(*) FROM {table} WHERE case_id::text = ANY(%s)",
                     erased)[0][0] == 0, table
    assert query(stack, "reporting", "SELECT count(*) FROM signals WHERE building_ref = %s", ref)[0][0] == 0
    assert query(stack, "reporting", "SELECT count(*) FROM case_facts WHERE building_ref = %s", ref)[0][0] == 0
