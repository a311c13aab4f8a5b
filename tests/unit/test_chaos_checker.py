"""The chaos suite's checker (bench/chaos/checker.py) on hand-made database and topic
contents: it must see a loss, a duplicate and a reordering, and pass a clean run."""

import json
import time
from uuid import uuid4

from bench.chaos import checker, plan

TAG = "t1"


def _event(eid: str, etype: str, **data) -> bytes:
    return json.dumps({"id": eid, "type": f"nl.samenwijk.{etype}", "data": data}).encode()


def _world(units: list[plan.Unit]):
    """Databases and topics as a faultless run leaves them for `units`."""
    db = {s: {"outbox": [], "dead_letter": [], "parked": []} for s in ("intake", "referral", "partners", "reporting")}
    db["intake"].update(complaints=[], case_parts=[], escalations=[])
    db["referral"].update(referrals=[], escalations=[])
    db["partners"]["referrals"] = []
    db["reporting"].update(cases=[], complaints=[], referrals=[], escalations=[])
    topics: dict[str, list[checker.Record]] = {}
    outbox_id = {"n": 0}

    def publish(service: str, topic: str, key: str, etype: str, **data) -> None:
        outbox_id["n"] += 1
        eid = str(uuid4())
        db[service]["outbox"].append({"id": outbox_id["n"], "topic": topic, "value": _event(eid, etype),
                                      "published": True})
        recs = topics.setdefault(topic, [])
        recs.append(checker.Record(0, len(recs), key, eid, f"nl.samenwijk.{etype}", data))

    for unit in units:
        case_id = str(uuid4())
        for sub in unit.submissions:
            sub.acked_at, sub.case_id, sub.attempts = time.monotonic(), case_id, 1
            cid = str(uuid4())
            db["intake"]["complaints"].append({"complaint_id": cid, "case_id": case_id,
                                               "description": f"x {plan.marker(TAG, sub.index)}"})
            db["reporting"]["complaints"].append({"complaint_id": cid, "case_id": case_id})
            publish("intake", "samenwijk.cases", case_id, "case.opened" if sub.position == 0 else "complaint.received")
        db["reporting"]["cases"].append({"case_id": case_id})
        for partner in unit.partners:
            rid = str(uuid4())
            row = {"referral_id": rid, "case_id": case_id, "partner_id": partner, "status": "accepted"}
            db["referral"]["referrals"].append(row)
            db["partners"]["referrals"].append(row)
            db["intake"]["case_parts"].append(row)
            db["reporting"]["referrals"].append({"referral_id": rid, "status": "accepted"})
            publish("referral", "samenwijk.referrals", case_id, "referral.requested", referral_id=rid)
            publish("partners", f"samenwijk.partner.{partner}.inbox", case_id, "referral.requested", referral_id=rid)
            publish("partners", "samenwijk.partners", case_id, "referral.accepted", referral_id=rid)
        if unit.repeat:
            eid = str(uuid4())
            esc = {"escalation_id": eid, "case_id": case_id, "reason": "repeat threshold: complaint 3"}
            db["referral"]["escalations"].append(esc)
            db["intake"]["escalations"].append(esc)
            db["reporting"]["escalations"].append({"escalation_id": eid, "case_id": case_id})
            publish("partners", "samenwijk.partner.gemeente-amsterdam.inbox", case_id, "escalation.raised",
                    escalation_id=eid)
    return db, topics


def _units() -> list[plan.Unit]:
    units = plan.build(60, 100, TAG, seed=3)
    assert any(u.repeat for u in units) and any(len(u.partners) == 2 for u in units)
    return units


def test_a_faultless_run_passes():
    units = _units()
    report = checker.check(units, TAG, *_world(units))
    assert not report.failed
    assert report.stages["case"].ok == 60
    assert report.stages["escalation"].ok == sum(u.repeat for u in units)


def test_a_lost_answer_and_a_duplicated_referral_are_seen():
    units = _units()
    db, topics = _world(units)
    db["intake"]["case_parts"][0]["status"] = "delivered"  # the acceptance never reached intake
    extra = dict(db["referral"]["referrals"][1], referral_id=str(uuid4()))
    db["referral"]["referrals"].append(extra)  # a second referral to the same partner
    report = checker.check(units, TAG, db, topics)
    assert report.failed
    assert report.stages["case view"].lost == 1
    assert report.stages["referral"].duplicated == 1


def test_a_key_out_of_its_producers_order_is_a_violation():
    units = _units()
    db, topics = _world(units)
    recs = topics["samenwijk.cases"]
    repeat_key = next(r.key for r in recs if r.type.endswith("complaint.received"))
    mine = [i for i, r in enumerate(recs) if r.key == repeat_key]
    a, b = mine[0], mine[1]
    recs[a], recs[b] = recs[b], recs[a]  # the repeat complaint lands before its case.opened
    recs[a].offset, recs[b].offset = a, b
    report = checker.check(units, TAG, db, topics)
    assert report.order["samenwijk.cases"][0] == 1
    assert report.failed


def test_a_published_row_missing_from_its_topic_is_a_relay_loss():
    units = _units()
    db, topics = _world(units)
    topics["samenwijk.cases"].pop(0)
    report = checker.check(units, TAG, db, topics)
    assert report.relay["intake"]["published, missing on samenwijk.cases"] == 1
