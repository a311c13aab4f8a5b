"""The partner API on the real stack: the authorization matrix, the referral lifecycle with
409s, the Kafka responses topic, revoked agreements (held, not delivered), erasure, the
processing log and the admin API."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from contracts.envelope import encode
from contracts.events import CaseErased, CompleteReferral, ReferralRequested
from contracts.topics import Topics
from samenwijk_dev import demo
from tests.integration.conftest import CONFUSED_PERSON, auth, envelope, produce, query, read_topic, submit, wait_for

SEED = yaml.safe_load(open("services/partners/seed/demo-partners.yaml"))["partners"]
PARTNER_TYPES = {p["partner_id"]: p["partner_type"] for p in SEED}
FIRST_AGREEMENT = {p["partner_id"]: p["agreements"][0] for p in SEED}
ENDPOINTS = [("GET", ""), ("POST", "/accept"), ("POST", "/decline"), ("POST", "/progress"), ("POST", "/complete")]
BODIES = {"": None, "/accept": {"note": "x"}, "/decline": {"code": "geen_capaciteit", "reason": "x"},
          "/progress": {"code": "contact_gelegd", "note": "x"}, "/complete": {"code": "opgelost", "outcome": "x"}}


def referral_for(partner_id: str, purpose: str, legal_basis: str, partner_type: str, **details: Any) -> ReferralRequested:
    """A referral as referral makes it (sent straight to its topic, so these tests do not
    depend on the routing rules)."""
    now = datetime.now(UTC)
    return ReferralRequested(
        referral_id=uuid.uuid4(), case_id=uuid.uuid4(), partner_id=partner_id, partner_type=partner_type,
        purpose=purpose, legal_basis=legal_basis, category="overlast.geluid", severity="normal",
        buurt_code="BU03634501",
        details={"address": {"postcode": "1024AB", "huisnummer": 17}, "description": "Harde muziek", **details},
        respond_by=now + timedelta(days=3), resolve_by=now + timedelta(days=30), requested_at=now)


def send_referrals(stack, referrals: list[ReferralRequested]) -> None:
    produce(stack, Topics.REFERRALS, [(str(r.case_id).encode(), encode(r, "urn:test:referral")) for r in referrals])


def demo_referral(partner_id: str, **details: Any) -> ReferralRequested:
    a = FIRST_AGREEMENT[partner_id]
    return referral_for(partner_id, a["purposes"][0], a["legal_basis"], PARTNER_TYPES[partner_id], **details)


def stored(stack, referral_id) -> list[tuple]:
    return query(stack, "partners", "SELECT status, hold_reason FROM referrals WHERE referral_id = %s", str(referral_id))


def partners_url(stack, path: str) -> str:
    return stack.url("partners") + path


@pytest.fixture(scope="module")
def admin(tokens) -> dict[str, str]:
    return auth(tokens[demo.ADMIN])


def test_every_partner_is_denied_every_other_partners_referral_on_every_endpoint_and_it_is_logged(stack, tokens):
    referrals = {p: demo_referral(p) for p in demo.PARTNERS}
    send_referrals(stack, list(referrals.values()))
    for r in referrals.values():
        wait_for(lambda: stored(stack, r.referral_id), 20, f"delivery of {r.referral_id}")

    checked = 0
    with httpx.Client(base_url=stack.url("partners")) as client:
        for asker in demo.PARTNERS:
            for owner, referral in referrals.items():
                if owner == asker:
                    continue
                for method, suffix in ENDPOINTS:
                    r = client.request(method, f"/v1/referrals/{referral.referral_id}{suffix}",
                                       json=BODIES[suffix], headers=auth(tokens[asker]))
                    assert r.status_code == 404, (asker, owner, suffix, r.text)
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert owner not in r.text  # nothing about the owner leaks
                    checked += 1
                listed = client.get("/v1/referrals", params={"case_id": str(referral.case_id)},
                                    headers=auth(tokens[asker]))
                assert listed.status_code == 200 and listed.json() == []
    assert checked == len(demo.PARTNERS) * (len(demo.PARTNERS) - 1) * len(ENDPOINTS)

    # one denied row per attempt, carrying no case, purpose or legal basis of the owner
    for owner, referral in referrals.items():
        rows = query(stack, "partners", "SELECT organisation_id, action, case_id, purpose FROM processing_log"
                     " WHERE referral_id = %s AND outcome = 'denied'", str(referral.referral_id))
        expected = {(asker, "referral.read" if s == "" else f"referral.{s[1:]}")
                    for asker in demo.PARTNERS if asker != owner for _, s in ENDPOINTS}
        assert {(org, action) for org, action, _, _ in rows} == expected
        assert len(rows) == len(expected)
        assert all(case is None and purpose is None for _, _, case, purpose in rows)
        # and nothing changed: the owner's referral is still just delivered
        assert stored(stack, referral.referral_id) == [("delivered", None)]

    # the owner itself is allowed
    own = referrals["ggz-noord"]
    r = httpx.get(partners_url(stack, f"/v1/referrals/{own.referral_id}"), headers=auth(tokens["ggz-noord"]))
    assert r.status_code == 200 and r.json()["payload"]["details"]["description"] == "Harde muziek"


def test_a_referral_goes_through_its_lifecycle_and_illegal_steps_get_409_with_the_reason(stack, tokens):
    police = auth(tokens["politie-amsterdam"])
    referral = demo_referral("politie-amsterdam", care_signal="never for the police")
    send_referrals(stack, [referral])
    wait_for(lambda: stored(stack, referral.referral_id), 20, "delivery")
    base = partners_url(stack, f"/v1/referrals/{referral.referral_id}")

    # the current agreement narrows what was delivered
    got = httpx.get(base, headers=police).json()
    assert "care_signal" not in got["payload"]["details"]

    r = httpx.post(base + "/complete", json={"code": "opgelost", "outcome": "klaar"}, headers=police)
    assert r.status_code == 409 and "must be accepted" in r.json()["detail"]
    r = httpx.post(base + "/decline", json={}, headers=police)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    r = httpx.post(base + "/decline", json={"code": "psychose"}, headers=police)
    assert r.status_code == 422 and "one of geen_capaciteit" in r.json()["detail"]

    assert httpx.post(base + "/accept", json={"note": "wijkagent gaat langs"}, headers=police).status_code == 200
    assert httpx.post(base + "/accept", json={"note": "wijkagent gaat langs"}, headers=police).status_code == 200
    r = httpx.post(base + "/accept", json={"note": "iets anders"}, headers=police)
    assert r.status_code == 409 and "different content" in r.json()["detail"]

    r = httpx.post(base + "/progress", json={"code": "contact_gelegd", "note": "gesprek gevoerd"}, headers=police)
    assert r.status_code == 200 and [(p["code"], p["note"]) for p in r.json()["progress"]] == [
        ("contact_gelegd", "gesprek gevoerd")]
    r = httpx.post(base + "/complete", json={"code": "opgelost", "outcome": "overlast gestopt"}, headers=police)
    assert r.status_code == 200 and r.json()["status"] == "completed" and r.json()["outcome"] == "overlast gestopt"
    assert (r.json()["response_code"], r.json()["outcome_code"]) == ("aangenomen", "opgelost")

    # each validated response went out once on samenwijk.partners
    key = str(referral.case_id).encode()
    records = read_topic(stack, Topics.PARTNERS, lambda rs: len([x for x in rs if x.key == key]) >= 3)
    types = [envelope(x)["type"] for x in records if x.key == key]
    assert types == ["nl.samenwijk.referral.accepted", "nl.samenwijk.referral.progressed",
                     "nl.samenwijk.referral.completed"]

    # the list filters by status and pages with a cursor
    page = httpx.get(partners_url(stack, "/v1/referrals"), params={"status": "completed", "limit": 1}, headers=police)
    assert page.status_code == 200 and len(page.json()) == 1 and page.headers["X-Next-Cursor"]
    assert all(x["status"] == "completed" and x["partner_id"] == "politie-amsterdam" for x in page.json())
    nxt = httpx.get(partners_url(stack, "/v1/referrals"), params={"status": "completed", "limit": 1,
                                                                  "cursor": page.headers["X-Next-Cursor"]},
                    headers=police)
    assert nxt.status_code == 200 and all(x["referral_id"] != page.json()[0]["referral_id"] for x in nxt.json())


def test_an_invalid_command_on_the_responses_topic_is_dead_lettered_with_the_reason(stack, tokens):
    referral = demo_referral("wijkteam-noord")
    send_referrals(stack, [referral])
    wait_for(lambda: stored(stack, referral.referral_id), 20, "delivery")
    command = CompleteReferral(referral_id=referral.referral_id, code="opgelost", outcome="klaar")  # before accepting
    [(partition, offset)] = produce(stack, Topics.partner_responses("wijkteam-noord"),
                                    [(str(referral.referral_id).encode(), encode(command, "urn:test:wijkteam"))])

    rows = wait_for(lambda: query(stack, "partners", "SELECT reason FROM dead_letter WHERE topic = %s"
                                  " AND partition = %s AND \"offset\" = %s",
                                  Topics.partner_responses("wijkteam-noord"), partition, offset), 20, "dead letter")
    assert "cannot complete a referral that is delivered" in rows[0][0]
    assert stored(stack, referral.referral_id) == [("delivered", None)]


def test_a_referral_for_a_revoked_agreement_is_held_visibly_and_not_delivered(stack, admin):
    partner_id = f"test-revoke-{uuid.uuid4().hex[:8]}"
    agreement = {"agreement_id": f"conv-{partner_id}", "purposes": ["buurtbemiddeling"],
                 "fields": ["address", "description"], "legal_basis": "AVG art. 6(1)(f)", "valid_from": "2026-01-01"}
    r = httpx.put(partners_url(stack, f"/v1/admin/partners/{partner_id}"), headers=admin, json={
        "partner_id": partner_id, "name": "Test buurtbemiddeling", "partner_type": "buurtbemiddeling",
        "region": "GM9999", "coordinator": "test@example.org", "agreements": [agreement]})
    assert r.status_code == 200, r.text
    # made while the agreement was valid ...
    held = referral_for(partner_id, "buurtbemiddeling", "AVG art. 6(1)(f)", "buurtbemiddeling")
    # ... and revoked before it reached partners
    r = httpx.post(partners_url(stack, f"/v1/admin/agreements/{agreement['agreement_id']}/revoke"), headers=admin)
    assert r.status_code == 200 and r.json()["revoked"] and r.json()["revision"] == 2
    send_referrals(stack, [held])
    wait_for(lambda: stored(stack, held.referral_id), 20, "the referral to reach partners")
    assert stored(stack, held.referral_id) == [("held", "no valid agreement for buurtbemiddeling at delivery")]

    # visible to the admin with the reason, and to the partner without content
    rows = httpx.get(partners_url(stack, "/v1/admin/referrals"), params={"status": "held", "partner_id": partner_id},
                     headers=admin).json()
    assert [(x["referral_id"], x["hold_reason"]) for x in rows] == [
        (str(held.referral_id), "no valid agreement for buurtbemiddeling at delivery")]
    token = demo.dev_token(stack.jwt_signing_key, partner_id, "partner")
    mine = httpx.get(partners_url(stack, f"/v1/referrals/{held.referral_id}"), headers=auth(token)).json()
    assert mine["status"] == "held" and mine["payload"] is None and mine["hold_reason"]
    r = httpx.post(partners_url(stack, f"/v1/referrals/{held.referral_id}/accept"), headers=auth(token))
    assert r.status_code == 409 and "held" in r.json()["detail"]
    r = httpx.post(partners_url(stack, f"/v1/admin/referrals/{held.referral_id}/release"), headers=admin)
    assert r.status_code == 409 and r.json()["detail"] == "still no valid agreement for buurtbemiddeling"

    # the revocation was announced for referral's copy (higher revision)
    changes = read_topic(stack, Topics.PARTNERS, lambda rs: any(
        envelope(x)["type"] == "nl.samenwijk.agreement.changed" and envelope(x)["data"]["partner_id"] == partner_id
        and envelope(x)["data"]["revoked"] for x in rs))
    revisions = [envelope(x)["data"]["revision"] for x in changes
                 if envelope(x)["type"] == "nl.samenwijk.agreement.changed" and envelope(x)["data"]["partner_id"] == partner_id]
    assert revisions == [1, 2]

    # the agreement renewed: a later referral is delivered; the held one never reached the inbox
    r = httpx.put(partners_url(stack, f"/v1/admin/partners/{partner_id}/agreements/{agreement['agreement_id']}"),
                  headers=admin, json={**agreement, "revoked": False})
    assert r.status_code == 200 and r.json()["revision"] == 3
    later = referral_for(partner_id, "buurtbemiddeling", "AVG art. 6(1)(f)", "buurtbemiddeling")
    send_referrals(stack, [later])
    inbox = read_topic(stack, Topics.partner_inbox(partner_id),
                       lambda rs: any(envelope(x)["data"]["referral_id"] == str(later.referral_id) for x in rs))
    assert [envelope(x)["data"]["referral_id"] for x in inbox] == [str(later.referral_id)]
    assert stored(stack, held.referral_id)[0][0] == "held"  # still held, not dropped

    # an operator releases the held one: rights checked again, then delivered
    r = httpx.post(partners_url(stack, f"/v1/admin/referrals/{held.referral_id}/release"), headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "delivered" and r.json()["hold_reason"] is None
    read_topic(stack, Topics.partner_inbox(partner_id),
               lambda rs: any(envelope(x)["data"]["referral_id"] == str(held.referral_id) for x in rs))
    r = httpx.post(partners_url(stack, f"/v1/admin/referrals/{held.referral_id}/release"), headers=admin)
    assert r.status_code == 409 and "only a held referral" in r.json()["detail"]

    # revoked again after delivery: what was delivered can no longer be read through the API
    assert httpx.get(partners_url(stack, f"/v1/referrals/{later.referral_id}"), headers=auth(token)).json()["payload"]
    httpx.post(partners_url(stack, f"/v1/admin/agreements/{agreement['agreement_id']}/revoke"), headers=admin)
    reads = query(stack, "partners", "SELECT count(*) FROM processing_log WHERE referral_id = %s", str(later.referral_id))
    got = httpx.get(partners_url(stack, f"/v1/referrals/{later.referral_id}"), headers=auth(token)).json()
    assert got["payload"] is None and got["hold_reason"] == "no valid agreement for buurtbemiddeling at present"
    assert query(stack, "partners", "SELECT count(*) FROM processing_log WHERE referral_id = %s",
                 str(later.referral_id)) == reads  # nothing shown, nothing logged


def test_admin_api_validates_and_needs_the_admin_scope(stack, tokens, admin):
    url = partners_url(stack, "/v1/admin/partners")
    assert httpx.get(url, headers=auth(tokens["ggz-noord"])).status_code == 403
    unscoped = demo.dev_token(stack.jwt_signing_key, demo.ADMIN, "admin")
    assert httpx.get(url, headers=auth(unscoped)).status_code == 403
    listed = httpx.get(url, headers=admin).json()
    assert {p["partner_id"] for p in listed} >= set(demo.PARTNERS)
    assert all(p["agreements"] for p in listed if p["partner_id"] in demo.PARTNERS)

    before = query(stack, "partners", "SELECT count(*) FROM agreements")
    r = httpx.put(partners_url(stack, "/v1/admin/partners/ggz-noord/agreements/conv-bad"), headers=admin, json={
        "agreement_id": "conv-bad", "purposes": ["zorg"], "fields": ["address", "reporter_name"],
        "legal_basis": "AVG", "valid_from": "2026-01-01"})
    assert r.status_code == 422 and "reporter_name" in r.text
    r = httpx.put(partners_url(stack, "/v1/admin/partners/ggz-noord/agreements/conv-politie-2026"), headers=admin,
                  json={**FIRST_AGREEMENT["politie-amsterdam"], "valid_from": "2026-01-01"})
    assert r.status_code == 409 and "belongs to politie-amsterdam" in r.json()["detail"]
    r = httpx.post(partners_url(stack, "/v1/admin/agreements/conv-nope/revoke"), headers=admin)
    assert r.status_code == 404
    assert query(stack, "partners", "SELECT count(*) FROM agreements") == before


def test_erasure_removes_the_personal_data_and_the_log_keeps_identifiers(stack, tokens, admin):
    referral = demo_referral("ggz-noord", care_signal="Zorgmijdend")
    send_referrals(stack, [referral])
    wait_for(lambda: stored(stack, referral.referral_id), 20, "delivery")
    ggz = auth(tokens["ggz-noord"])
    assert httpx.get(partners_url(stack, f"/v1/referrals/{referral.referral_id}"), headers=ggz).status_code == 200

    erased = CaseErased(case_id=referral.case_id, erased_at=datetime.now(UTC))
    produce(stack, Topics.CASES, [(str(referral.case_id).encode(), encode(erased, "urn:test:intake"))])
    wait_for(lambda: query(stack, "partners", "SELECT 1 FROM referrals WHERE referral_id = %s AND payload IS NULL",
                           str(referral.referral_id)), 20, "erasure")
    got = httpx.get(partners_url(stack, f"/v1/referrals/{referral.referral_id}"), headers=ggz).json()
    assert got["payload"] is None

    log = httpx.get(partners_url(stack, "/v1/processing-log"), params={"case": str(referral.case_id)}, headers=admin)
    assert log.status_code == 200
    entries = log.json()
    # the read after erasure showed no personal data, so it is no processing
    assert [e["action"] for e in entries] == ["referral.deliver", "referral.read", "referral.erase"]
    assert all(e["organisation_id"] == "ggz-noord" and e["purpose"] == referral.purpose for e in entries)
    assert "Zorgmijdend" not in log.text and "Harde muziek" not in log.text
    # not for partners, and the log cannot be changed
    assert httpx.get(partners_url(stack, "/v1/processing-log"), params={"case": str(referral.case_id)},
                     headers=ggz).status_code == 403
    assert httpx.get(partners_url(stack, "/v1/processing-log"), params={"case": str(referral.case_id)},
                     headers=auth(tokens[demo.CORPORATIONS[0]])).status_code == 404  # not its case
    with pytest.raises(Exception, match="append-only"):
        query(stack, "partners", "DELETE FROM processing_log WHERE case_id = %s", str(referral.case_id))


def test_a_corporation_reads_the_processing_log_of_its_own_case_only(stack, tokens):
    case_id = submit(stack, tokens, CONFUSED_PERSON, corporation=demo.CORPORATIONS[0])
    wait_for(lambda: query(stack, "partners", "SELECT 1 FROM case_owners WHERE case_id = %s", case_id),
             20, "partners to learn the case's corporation")
    url = partners_url(stack, "/v1/processing-log")

    own = httpx.get(url, params={"case": case_id}, headers=auth(tokens[demo.CORPORATIONS[0]]))
    assert own.status_code == 200
    assert all(e["case_id"] == case_id for e in own.json())
    other = httpx.get(url, params={"case": case_id}, headers=auth(tokens[demo.CORPORATIONS[1]]))
    assert other.status_code == 404
    # the attempt is itself in the case's log, for the owner to see
    again = httpx.get(url, params={"case": case_id}, headers=auth(tokens[demo.CORPORATIONS[0]])).json()
    denied = [e for e in again if e["outcome"] == "denied"]
    assert [(e["action"], e["organisation_id"]) for e in denied] == [("processing_log.read", demo.CORPORATIONS[1])]
    assert httpx.get(url, params={"case": "not-a-uuid"}, headers=auth(tokens[demo.CORPORATIONS[0]])).status_code == 422
