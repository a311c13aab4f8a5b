"""At-least-once delivery, exactly-once effect: duplicates, crashes and poison records."""

import json
import uuid
from datetime import UTC, datetime

import httpx

from contracts.envelope import encode
from contracts.events import CaseDetails, CaseOpened, Severity
from contracts.topics import Topics
from tests.integration.conftest import NUISANCE, auth, new_id, produce, query, read_topic, submit, wait_for


def case_opened(case_id: str, description: str = "geluidsoverlast") -> CaseOpened:
    return CaseOpened(case_id=case_id, corporation_id="corp-de-linde", category="overlast.geluid",
                      severity=Severity.NORMAL, buurt_code="BU03634501", wijk_code="WK036345",
                      details=CaseDetails(description=description), opened_at=datetime.now(UTC))


def referrals_of(stack, case_id: str) -> int:
    return query(stack, "referral", "SELECT count(*) FROM referrals WHERE case_id = %s", case_id)[0][0]


def test_the_same_event_delivered_twice_has_one_effect(stack, routing_ready):
    case_id = new_id()
    record = encode(case_opened(case_id), "urn:test:intake", event_id=uuid.uuid4())
    produce(stack, Topics.CASES, [(case_id.encode(), record), (case_id.encode(), record)])
    wait_for(lambda: referrals_of(stack, case_id) >= 1, 20, "the referral")
    # and once more, after the first was fully handled and committed
    produce(stack, Topics.CASES, [(case_id.encode(), record)])
    marker = new_id()  # a later event on the same partition shows the third copy was consumed
    produce(stack, Topics.CASES, [(case_id.encode(), encode(case_opened(marker), "urn:test:intake"))])
    wait_for(lambda: referrals_of(stack, marker) == 1, 20, "the marker case")
    assert referrals_of(stack, case_id) == 1


def test_consumer_killed_between_db_commit_and_offset_commit_loses_and_duplicates_nothing(stack, tokens, routing_ready):
    referral = stack.services["referral"]
    referral.stop()
    referral.env["SAMENWIJK_FAULT_KILL_AFTER_COMMIT"] = "nl.samenwijk.case.opened"
    referral.start(wait=True)
    try:
        case_ids = [submit(stack, tokens, NUISANCE) for _ in range(3)]
        # SIGKILL right after its transaction committed, before the offset commit
        wait_for(lambda: referral.proc.poll() is not None, 30, "referral to die at the crash point")
        assert referral.proc.returncode == -9
        committed_before_restart = sum(referrals_of(stack, c) for c in case_ids)
        assert committed_before_restart >= 1  # the effect was committed before the kill
    finally:
        referral.env.pop("SAMENWIJK_FAULT_KILL_AFTER_COMMIT")
        referral.start(wait=True)  # the same batch comes again: the inbox skips it

    for c in case_ids:
        wait_for(lambda c=c: referrals_of(stack, c) == 1, 30, f"referral of {c}")
    # every case reached its partner's inbox exactly once
    inbox = read_topic(stack, Topics.partner_inbox("buurtbemiddeling-amsterdam"),
                       lambda rs: {r.key.decode() for r in rs} >= set(case_ids))
    delivered = [json.loads(r.value)["data"]["referral_id"] for r in inbox if r.key.decode() in case_ids]
    assert len(delivered) == len(set(delivered)) == len(case_ids)
    assert sum(referrals_of(stack, c) for c in case_ids) == len(case_ids)


def test_malformed_record_is_dead_lettered_and_the_partition_moves_on(stack, routing_ready):
    key = new_id()
    good_case = key  # the same key → the same partition, right after the poison
    poison = b'{"specversion": "1.0", "type": "nl.samenwijk.case.opened", "data": {"oops": true}}'
    [(partition, poison_offset), _] = produce(stack, Topics.CASES, [
        (key.encode(), poison),
        (key.encode(), encode(case_opened(good_case), "urn:test:intake")),
    ])
    wait_for(lambda: referrals_of(stack, good_case) == 1, 20, "the valid record after the poison")

    def dead_letters(records):
        return [r for r in records if dict(r.headers).get("dlq-original-offset") == str(poison_offset).encode()
                and dict(r.headers).get("dlq-original-topic") == Topics.CASES.encode()]

    # every consumer of samenwijk.cases dead-letters it on its own; referral's is one of them
    found = dead_letters(read_topic(stack, Topics.DEAD_LETTER,
                                    lambda rs: any(dict(r.headers).get("dlq-service") == b"referral"
                                                   for r in dead_letters(rs))))
    letter = next(r for r in found if dict(r.headers)["dlq-service"] == b"referral")
    headers = dict(letter.headers)
    assert letter.value == poison
    assert headers["dlq-original-partition"] == str(partition).encode()
    assert b"invalid event" in headers["dlq-reason"]
    stored = query(stack, "referral", 'SELECT reason FROM dead_letter WHERE topic = %s AND "offset" = %s',
                   Topics.CASES, poison_offset)
    assert stored and "invalid event" in stored[0][0]


def test_bad_http_input_gets_problem_details_and_writes_nothing(stack, tokens):
    url = stack.url("intake") + "/v1/cases"
    corp = auth(tokens["corp-de-linde"])
    before = query(stack, "intake", "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM outbox)")
    cases = [
        ({**NUISANCE, "category": "overlast.onbekend"}, 422, "category"),
        ({**NUISANCE, "unknown_field": 1}, 422, "unknown_field"),
        ({**NUISANCE, "address": {"postcode": "12AB", "huisnummer": 1}}, 422, "address.postcode"),
        ({**NUISANCE, "buurt_code": "XX"}, 422, "buurt_code"),
        ({k: v for k, v in NUISANCE.items() if k != "description"}, 422, "description"),
    ]
    for body, status, field in cases:
        r = httpx.post(url, json=body, headers=corp)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["status"] == status and problem["title"] and problem["detail"]
        assert any(field in e["field"] or field in e["message"] for e in problem["errors"]), problem
    r = httpx.post(url, content=b"{not json", headers={**corp, "content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = httpx.post(url, content=b"x" * 100_000, headers={**corp, "content-type": "application/json"})
    assert r.status_code == 413 and "at most" in r.json()["detail"]
    r = httpx.post(url, json=NUISANCE)
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
    r = httpx.post(url, json=NUISANCE, headers=auth(tokens["ggz-noord"]))
    assert r.status_code == 403
    after = query(stack, "intake", "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM outbox)")
    assert after == before
