"""Intake on the real broker and PostgreSQL: both body shapes, repeat complaints,
Idempotency-Key, listing, close/reopen, observations, part statuses from referral and
partner events, and the erasure job."""

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from contracts.envelope import encode
from contracts.events import (
    CaseDetails,
    EscalationRaised,
    EscalationResolved,
    PartnerType,
    ReferralCompleted,
    ReferralExpired,
    ReferralProgressed,
    ReferralRequested,
    ReferralWithdrawn,
    Severity,
)
from contracts.topics import Topics
from samenwijk_dev import demo
from tests.integration.conftest import auth, produce, query, read_topic, restarted, wait_for
from tests.integration.conftest import opened as open_sealed

CORP, OTHER = demo.CORPORATIONS


@pytest.fixture(scope="module")
def intake(stack, routing_ready):
    """Intake with repeats on (90 days) and an erasure job that looks twice a second."""
    with restarted(stack, "intake", {"SAMENWIJK_REPEAT_WINDOW_DAYS": "90",
                                     "SAMENWIJK_RETENTION_INTERVAL_SECONDS": "0.5"}) as url:
        yield url


def unit() -> dict:
    """A rental unit no other test uses."""
    return {"postcode": "1024BC", "huisnummer": random.randint(1, 99999), "toevoeging": uuid.uuid4().hex[:4]}


def body(**overrides) -> dict:
    return {"category": "overlast.geluid", "severity": "normal", "address": unit(), "buurt_code": "BU03634502",
            "wijk_code": "WK036345", "description": "Bonken 's nachts", "handling_professional": "wc-7", **overrides}


def post(url: str, tokens, json_body: dict, corporation: str = CORP, **headers) -> httpx.Response:
    return httpx.post(url + "/v1/cases", json=json_body, headers={**auth(tokens[corporation]), **headers})


def case_events(stack, case_id: str, n: int) -> list[dict]:
    records = read_topic(stack, Topics.CASES, lambda rs: sum(r.key == case_id.encode() for r in rs) >= n)
    return [json.loads(r.value) for r in records if r.key == case_id.encode()]


def counts(stack) -> tuple:
    return query(stack, "intake", "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM complaints),"
                 " (SELECT count(*) FROM outbox), (SELECT count(*) FROM idempotency_keys)")[0]


def test_own_shape_with_customer_group_opens_a_case(stack, tokens, intake):
    r = post(intake, tokens, body(customer_group={"household_type": "alleenstaand", "age_band": "65+"}))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["repeat_count"] == 1 and created["joined_open_case"] is False
    assert r.headers["location"] == f"/v1/cases/{created['case_id']}"
    opened = case_events(stack, created["case_id"], 2)[0]["data"]
    assert opened["customer_group"] == {"household_type": "alleenstaand", "age_band": "65+"}
    case = httpx.get(f"{intake}/v1/cases/{created['case_id']}", headers=auth(tokens[CORP])).json()
    assert case["customer_group"]["age_band"] == "65+" and case["status"] == "open"


def test_a_vera_huurschuld_signal_becomes_a_rent_arrears_case(stack, tokens, intake):
    u = unit()
    signal = {"soort": "huurschuld", "urgentie": "hoog",
              "eenheid": {"vheNummer": "VHE-1", "postcode": u["postcode"], "huisnummer": u["huisnummer"],
                          "buurtcode": "BU03634501", "wijkcode": "WK036345"},
              "omschrijving": "Drie maanden geen huur betaald", "huurschuld": {"bedrag": "2150.00", "aantalMaanden": 3},
              "huishouden": {"pseudoniem": "hh-vera-1", "huishoudtype": "eenoudergezin"}}
    r = post(intake, tokens, signal)
    assert r.status_code == 201, r.text
    opened = open_sealed(stack, case_events(stack, r.json()["case_id"], 2)[0])  # as referral reads it
    assert opened["category"] == "financieel.huurachterstand" and opened["severity"] == "urgent"
    assert opened["details"]["arrears"] == {"amount_eur": "2150.00", "months": 3}
    assert opened["customer_group"] == {"household_type": "eenoudergezin"}
    bad = post(intake, tokens, {**signal, "soort": "brand"})
    assert bad.status_code == 422 and "soort 'brand'" in bad.json()["detail"]


def test_bad_input_names_field_and_rule_and_writes_nothing(stack, tokens, intake):
    before = counts(stack)
    cases = [
        (body(buurt_code="BU03639999", wijk_code="WK036399"), "reference list"),
        (body(household_ref="111222333"), "BSN"),
        (body(customer_group={"age_band": "66"}), "customer_group.age_band"),
        ({"soort": "overlast", "eenheid": {"postcode": "1024AB"}, "omschrijving": "x"}, "eenheid.huisnummer"),
    ]
    for b, named in cases:
        r = post(intake, tokens, b)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert any(named in e["field"] or named in e["message"] for e in r.json()["errors"]), r.json()
    assert counts(stack) == before


def test_a_repeat_complaint_joins_the_open_case_with_its_repeat_count(stack, tokens, intake):
    u = unit()
    first = post(intake, tokens, body(address=u)).json()
    second = post(intake, tokens, body(address=u, category="overlast.agressie", reporter={"anonymous": True})).json()
    third = post(intake, tokens, body(address=u)).json()
    assert second["case_id"] == third["case_id"] == first["case_id"]
    assert (second["repeat_count"], third["repeat_count"]) == (2, 3) and third["joined_open_case"] is True
    events = case_events(stack, first["case_id"], 4)
    assert [e["type"] for e in events] == ["nl.samenwijk.case.opened"] + ["nl.samenwijk.complaint.received"] * 3
    assert [e["data"]["repeat_count"] for e in events[1:]] == [1, 2, 3]
    # another family, or another corporation, opens its own case
    assert post(intake, tokens, body(address=u, category="leefbaarheid.afval")).json()["case_id"] != first["case_id"]
    assert post(intake, tokens, body(address=u), corporation=OTHER).json()["case_id"] != first["case_id"]


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(stack, tokens, intake):
    key = f"retry-{uuid.uuid4()}"
    b = body()
    first = post(intake, tokens, b, **{"Idempotency-Key": key})
    again = post(intake, tokens, b, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert query(stack, "intake", "SELECT count(*) FROM cases WHERE case_id = %s", first.json()["case_id"]) == [(1,)]
    before = counts(stack)
    other = post(intake, tokens, {**b, "description": "iets anders"}, **{"Idempotency-Key": key})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert counts(stack) == before
    # keys are per corporation
    assert post(intake, tokens, b, corporation=OTHER, **{"Idempotency-Key": key}).json()["case_id"] != first.json()["case_id"]


def test_list_filters_and_pages_with_a_cursor(stack, tokens, intake):
    mine = [post(intake, tokens, body(category="veiligheid.woonfraude", buurt_code="BU03634503"),
                 corporation=OTHER).json()["case_id"] for _ in range(3)]
    params = {"category": "veiligheid", "buurt_code": "BU03634503", "status": "open",
              "opened_from": datetime.now(UTC).date().isoformat(), "limit": 2}
    seen, cursor = [], None
    while True:
        page = httpx.get(intake + "/v1/cases", params={**params, **({"cursor": cursor} if cursor else {})},
                         headers=auth(tokens[OTHER])).json()
        seen += page["items"]
        assert len(page["items"]) <= 2
        if not (cursor := page["next_cursor"]):
            break
    ids = [c["case_id"] for c in seen]
    assert len(ids) == len(set(ids)) and set(mine) <= set(ids)
    assert ids.index(mine[2]) < ids.index(mine[1]) < ids.index(mine[0])  # newest first
    assert all(c["category"] == "veiligheid.woonfraude" and c["status"] == "open" for c in seen)
    assert "details" not in seen[0]
    # another corporation's list never holds them
    theirs = httpx.get(intake + "/v1/cases", params={"limit": 100, "buurt_code": "BU03634503"},
                       headers=auth(tokens[CORP])).json()["items"]
    assert not set(mine) & {c["case_id"] for c in theirs}
    for bad in ({"cursor": "nonsense"}, {"status": "weg"}, {"category": "brand"}, {"limit": 0}):
        assert httpx.get(intake + "/v1/cases", params=bad, headers=auth(tokens[OTHER])).status_code == 422


def test_close_and_reopen_emit_their_events_and_guard_the_status(stack, tokens, intake):
    case_id = post(intake, tokens, body()).json()["case_id"]
    corp = auth(tokens[CORP])
    closed = httpx.post(f"{intake}/v1/cases/{case_id}/close", headers=corp,
                        json={"outcome": "opgelost", "liveability_cost_eur": "350.00"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert httpx.post(f"{intake}/v1/cases/{case_id}/close", headers=corp, json={"outcome": "opgelost"}).status_code == 409
    assert httpx.post(f"{intake}/v1/cases/{case_id}/close", headers=corp, json={"outcome": "klaar"}).status_code == 422
    denied = httpx.post(f"{intake}/v1/cases/{case_id}/reopen", headers=auth(tokens[OTHER]), json={"reason": "x"})
    assert denied.status_code == 404
    assert query(stack, "intake", "SELECT action FROM processing_log WHERE case_id = %s AND organisation_id = %s"
                 " AND outcome = 'denied'", case_id, OTHER) == [("case.reopen",)]
    reopened = httpx.post(f"{intake}/v1/cases/{case_id}/reopen", headers=corp, json={"reason": "weer overlast"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "open" and reopened.json()["outcome"] is None
    events = case_events(stack, case_id, 4)
    assert [e["type"] for e in events][2:] == ["nl.samenwijk.case.closed", "nl.samenwijk.case.reopened"]
    assert events[2]["data"]["liveability_cost_eur"] == "350.00" and "reason" not in events[3]["data"]
    assert events[3]["data"]["sealed"]["kid"] == f"intake/intake/{case_id}"  # free text: sealed, for nobody else
    assert b"weer overlast" not in json.dumps(events[3]).encode()


def test_an_observation_at_a_unit_joins_its_open_case(stack, tokens, intake):
    u = unit()
    case_id = post(intake, tokens, body(address=u, category="leefbaarheid.vervuiling")).json()["case_id"]
    seen = {"category": "leefbaarheid.afval", "buurt_code": "BU03634502", "wijk_code": "WK036345",
            "address": u, "note": "Vuilniszakken op het balkon", "observer": "wb-12"}
    r = httpx.post(intake + "/v1/observations", json=seen, headers=auth(tokens[CORP]))
    assert r.status_code == 201 and r.json()["case_id"] == case_id
    buurt = httpx.post(intake + "/v1/observations", headers=auth(tokens[CORP]),
                       json={k: v for k, v in seen.items() if k != "address"})
    assert buurt.status_code == 201 and buurt.json()["case_id"] is None
    event = case_events(stack, case_id, 3)[-1]
    assert event["type"] == "nl.samenwijk.observation.recorded" and event["data"]["observer"] == "wb-12"
    case = httpx.get(f"{intake}/v1/cases/{case_id}", headers=auth(tokens[CORP])).json()
    assert case["observation_count"] == 1


def test_every_part_status_from_referral_and_partner_events_shows_on_the_case(stack, tokens, intake):
    case_id = post(intake, tokens, body(category="zorg.zorgmijding")).json()["case_id"]
    now = datetime.now(UTC)
    parts = {name: uuid.uuid4() for name in ("done", "gone", "late", "busy")}

    def requested(referral_id):
        return ReferralRequested(referral_id=referral_id, case_id=case_id, partner_id="ggz-noord",
                                 partner_type=PartnerType.GGZ, purpose="zorg", legal_basis="convenant",
                                 category="zorg.zorgmijding", severity=Severity.NORMAL, buurt_code="BU03634502",
                                 details=CaseDetails(), respond_by=now, resolve_by=now, requested_at=now)

    escalation = uuid.uuid4()
    referral_events = [requested(r) for r in parts.values()] + [
        ReferralWithdrawn(referral_id=parts["gone"], case_id=case_id, partner_id="ggz-noord", reason="dubbel",
                          withdrawn_at=now),
        ReferralExpired(referral_id=parts["late"], case_id=case_id, partner_id="ggz-noord", deadline="respond",
                        due_at=now, expired_at=now),
        EscalationRaised(escalation_id=escalation, case_id=case_id, level="casusoverleg", reason="geen reactie",
                         referral_id=parts["late"], raised_at=now + timedelta(seconds=1)),
        EscalationResolved(escalation_id=escalation, case_id=case_id, reason="afgesproken",
                           resolved_at=now + timedelta(seconds=2)),
    ]
    partner_events = [
        ReferralProgressed(referral_id=parts["busy"], case_id=case_id, partner_id="ggz-noord", note="huisbezoek",
                           progressed_at=now),
        ReferralCompleted(referral_id=parts["done"], case_id=case_id, partner_id="ggz-noord", outcome="in zorg",
                          completed_at=now),
    ]
    key = case_id.encode()
    produce(stack, Topics.REFERRALS, [(key, encode(e, "urn:test:referral")) for e in referral_events])
    produce(stack, Topics.PARTNERS, [(key, encode(e, "urn:test:partners")) for e in partner_events])

    def statuses():
        case = httpx.get(f"{intake}/v1/cases/{case_id}", headers=auth(tokens[CORP])).json()
        want = {str(parts["done"]): "completed", str(parts["gone"]): "withdrawn", str(parts["late"]): "escalated",
                str(parts["busy"]): "in_progress"}
        # (referral makes its own referrals for the case too; only these are checked)
        by_id = {p["referral_id"]: p["status"] for p in case["parts"] if p["referral_id"] in want}
        ours = [e for e in case["escalations"] if e["escalation_id"] == str(escalation)]
        return ours[0] if by_id == want and ours and ours[0]["resolved_at"] else None

    resolved = wait_for(statuses, 20, "every part's status")
    assert resolved["resolution"] == "afgesproken" and resolved["referral_id"] == str(parts["late"])


def test_the_erasure_job_erases_closed_cases_past_retention_once_and_says_so(stack, tokens, intake):
    named = {"anonymous": False, "name": "Buurman Wissen", "phone": "0611111111"}
    case_id = post(intake, tokens, body(reporter=named, household_ref="hh-erase")).json()["case_id"]
    corp = auth(tokens[CORP])
    assert httpx.post(f"{intake}/v1/cases/{case_id}/close", headers=corp, json={"outcome": "opgelost"}).status_code == 200
    with psycopg.connect(stack.postgres.dsn("intake")) as conn:  # as if the retention period has passed
        conn.execute("UPDATE cases SET closed_at = now() - interval '731 days' WHERE case_id = %s", (case_id,))
    wait_for(lambda: query(stack, "intake", "SELECT status FROM cases WHERE case_id = %s", case_id) == [("erased",)],
             20, "the erasure job")
    [(details, address_key, professional)] = query(
        stack, "intake", "SELECT details, address_key, handling_professional FROM cases WHERE case_id = %s", case_id)
    assert details == {} and address_key is None and professional is None
    assert query(stack, "intake", "SELECT description, reporter FROM complaints WHERE case_id = %s",
                 case_id) == [(None, None)]
    erased = [e for e in case_events(stack, case_id, 4) if e["type"] == "nl.samenwijk.case.erased"]
    assert len(erased) == 1
    # the event log holds nothing of the case but its erasure (which the relay still owed or sent after)
    published = query(stack, "intake", "SELECT value FROM outbox WHERE key = %s", case_id.encode())
    assert all(b"case.erased" in bytes(v) for (v,) in published)
    assert query(stack, "intake", "SELECT count(*) FROM processing_log WHERE case_id = %s AND action = 'case.erase'",
                 case_id) == [(1,)]
    # an erased case stays erased: it cannot be reopened, and the job does not pick it again
    assert httpx.post(f"{intake}/v1/cases/{case_id}/reopen", headers=corp, json={"reason": "x"}).status_code == 409
    case = httpx.get(f"{intake}/v1/cases/{case_id}", headers=corp).json()
    assert case["status"] == "erased" and case["details"] == {}


def test_client_credentials_give_a_token_and_the_secret_is_stored_hashed(stack, tokens, intake):
    admin = auth(tokens[demo.ADMIN])
    assert httpx.post(intake + "/v1/clients", headers=auth(tokens[CORP]),
                      json={"organisation_id": "corp-de-linde", "org_type": "corporation"}).status_code == 403
    created = httpx.post(intake + "/v1/clients", headers=admin,
                         json={"organisation_id": "corp-de-linde", "org_type": "corporation"}).json()
    [(stored,)] = query(stack, "intake", "SELECT secret_hash FROM api_clients WHERE client_id = %s", created["client_id"])
    assert created["client_secret"] not in stored
    form = {"grant_type": "client_credentials", "client_id": created["client_id"]}
    r = httpx.post(intake + "/v1/oauth/token", data={**form, "client_secret": created["client_secret"]})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and r.json()["expires_in"] > 0
    basic = httpx.post(intake + "/v1/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(created["client_id"], created["client_secret"]))
    assert basic.status_code == 200
    # the token works like any bearer token of that corporation
    case_id = post(intake, {CORP: r.json()["access_token"]}, body()).json()["case_id"]
    assert httpx.get(f"{intake}/v1/cases/{case_id}", headers=auth(tokens[CORP])).status_code == 200
    wrong = httpx.post(intake + "/v1/oauth/token", data={**form, "client_secret": "raden"})
    assert wrong.status_code == 401 and "invalid_client" in wrong.json()["detail"]
