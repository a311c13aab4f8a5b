"""Who reads which reporting figures, route × token, against the real stack (issue 11, item 3):
neighbourhood figures for every organisation; a corporation's spend and its professionals'
caseload only for that corporation; partners (police included) neither; each partner only
its own partner figures."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from contracts.envelope import encode
from contracts.events import CaseDetails, CaseOpened, Severity
from contracts.topics import Topics
from samenwijk_dev import demo
from tests.integration.conftest import auth, produce, query, wait_for

pytestmark = pytest.mark.integration

NEIGHBOURHOOD = ("/v1/kpis/cases", "/v1/kpis/buurten", "/v1/kpis/time-of-day", "/v1/kpis/goals", "/v1/signals")
NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:samenwijk:test:reporting-access")
CORPS = demo.CORPORATIONS


@pytest.fixture(scope="module")
def caseloads(stack):
    """Five cases per corporation, each with a professional of its own."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    events = []
    for corp in CORPS:
        for i in range(5):
            case_id = uuid.uuid5(NS, f"{corp}-{i}")
            events.append(CaseOpened(case_id=case_id, corporation_id=corp, category="overlast.geluid",
                                     severity=Severity.NORMAL, buurt_code="BU03634501", wijk_code="WK036345",
                                     details=CaseDetails(description="synthetic"), handling_professional=f"wc-{corp}",
                                     opened_at=now))
    produce(stack, Topics.CASES, [(e.subject().encode(), encode(e, "urn:test:intake")) for e in events])
    ids = [uuid.uuid5(NS, f"{corp}-{i}") for corp in CORPS for i in range(5)]
    wait_for(lambda: query(stack, "reporting", "SELECT count(*) FROM case_facts WHERE case_id = ANY(%s)", ids)[0][0]
             == len(ids), 60, "reporting to project the caseload cases")


def _get(stack, token: str | None, path: str) -> httpx.Response:
    return httpx.get(stack.url("reporting") + path, headers=auth(token) if token else {}, timeout=30)


def test_route_token_matrix(stack, tokens, caseloads, capsys):
    tried = refused_right = 0
    for who, token in tokens.items():
        org_type = "corporation" if who in CORPS else "admin" if who == demo.ADMIN else "partner"
        for path in NEIGHBOURHOOD + ("/v1/kpis/partners",):
            assert _get(stack, token, path).status_code == 200, (who, path)
            tried += 1
        caseload = _get(stack, token, "/v1/kpis/caseload")
        spend = _get(stack, token, "/v1/kpis/spend")
        tried += 2
        if org_type == "corporation":
            assert caseload.status_code == 200 and spend.status_code == 200, (who, caseload.text, spend.text)
            professionals = {r["professional"] for r in caseload.json()}
            assert f"wc-{who}" in professionals
            assert not {f"wc-{other}" for other in CORPS if other != who} & professionals
            assert [r["corporation_id"] for r in spend.json()] == [who]
        elif org_type == "admin":
            assert caseload.status_code == 403, who
            assert sorted(r["corporation_id"] for r in spend.json()) == sorted(CORPS)
            refused_right += 1
        else:  # partners and the police: neighbourhood figures only
            assert caseload.status_code == 403 and spend.status_code == 403, (who, caseload.text, spend.text)
            assert "own corporation" in caseload.json()["detail"]
            refused_right += 2
    for path in NEIGHBOURHOOD + ("/v1/kpis/partners", "/v1/kpis/caseload", "/v1/kpis/spend"):
        assert _get(stack, None, path).status_code == 401
        tried += 1
        refused_right += 1
    with capsys.disabled():
        print(f"\nreporting routes x tokens tried: {tried}, refused as they should be: {refused_right}")


def test_a_partner_sees_only_its_own_partner_figures(stack, tokens):
    police = _get(stack, tokens["politie-amsterdam"], "/v1/kpis/partners").json()
    assert {r["partner_id"] for r in police} <= {"politie-amsterdam"}
    everyone = _get(stack, tokens[demo.ADMIN], "/v1/kpis/partners").json()
    assert all(r["referrals"] % 5 == 0 for r in everyone)
