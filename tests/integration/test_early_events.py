"""No event is dropped for arriving early, on the real stack: a complaint that overtakes its
case (as after a refill) is parked, shown in the metrics, and applied when case.opened comes,
so the repeat-threshold escalation fires exactly once; an escalation that overtakes its
referral in intake still marks the case's part escalated."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from contracts.envelope import encode
from contracts.events import (
    CaseDetails,
    ComplaintReceived,
    EscalationRaised,
    PartnerType,
    ReferralRequested,
    Severity,
)
from contracts.topics import Topics
from tests.integration.conftest import NUISANCE, produce, query, submit, wait_for
from tests.integration.test_delivery_guarantees import case_opened

SOURCE = "urn:test:intake"


def metric(stack, service: str, name: str) -> float:
    for line in httpx.get(stack.services[service].metrics_url).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in {service}'s metrics")


def repeat_escalations(stack, case_id: str) -> int:
    return query(stack, "referral", "SELECT count(*) FROM escalations WHERE case_id = %s"
                 " AND reason LIKE 'repeat threshold%%'", case_id)[0][0]


def test_a_complaint_before_its_case_is_parked_then_escalates_exactly_once(stack, routing_ready):
    case_id = str(uuid.uuid4())
    opened = case_opened(case_id)
    complaints = [encode(ComplaintReceived(case_id=case_id, complaint_id=uuid.uuid4(), corporation_id="corp-de-linde",
                                           category="overlast.geluid", buurt_code=opened.buurt_code, repeat_count=n,
                                           received_at=datetime.now(UTC)), SOURCE) for n in (3, 2)]
    produce(stack, Topics.CASES, [(case_id.encode(), c) for c in complaints])  # before the case, newest first

    wait_for(lambda: query(stack, "referral", "SELECT count(*) FROM parked_event WHERE park_key = %s",
                           f"case:{case_id}")[0][0] == 2, 30, "the complaints to be parked")
    assert query(stack, "referral", "SELECT count(*) FROM inbox WHERE event_id IN (%s, %s)",
                 *[uuid_of(c) for c in complaints])[0][0] == 0  # not claimed as handled
    assert metric(stack, "referral", "samenwijk_parked_events") >= 2

    produce(stack, Topics.CASES, [(case_id.encode(), encode(opened, SOURCE))])
    wait_for(lambda: repeat_escalations(stack, case_id) == 1, 30, "the repeat-threshold escalation")
    wait_for(lambda: query(stack, "referral", "SELECT count(*) FROM parked_event WHERE park_key = %s",
                           f"case:{case_id}")[0][0] == 0, 30, "nothing parked any more")
    assert query(stack, "referral", "SELECT count(*) FROM inbox WHERE event_id IN (%s, %s)",
                 *[uuid_of(c) for c in complaints])[0][0] == 2
    # once more, after everything was applied: the inbox keeps it at one
    produce(stack, Topics.CASES, [(case_id.encode(), c) for c in complaints])
    marker = str(uuid.uuid4())
    produce(stack, Topics.CASES, [(case_id.encode(), encode(case_opened(marker), SOURCE))])
    wait_for(lambda: query(stack, "referral", "SELECT count(*) FROM referrals WHERE case_id = %s", marker)[0][0] >= 1,
             30, "the marker case behind the redelivery")
    assert repeat_escalations(stack, case_id) == 1


def test_an_escalation_before_its_referral_still_shows_in_the_corporations_view(stack, tokens, routing_ready):
    case_id = submit(stack, tokens, NUISANCE)
    referral_id, now = uuid.uuid4(), datetime.now(UTC)
    escalation = EscalationRaised(escalation_id=uuid.uuid4(), case_id=case_id, level="coordinator",
                                  reason="respond deadline passed", referral_id=referral_id, raised_at=now)
    requested = ReferralRequested(
        referral_id=referral_id, case_id=case_id, partner_id="buurtbemiddeling-amsterdam",
        partner_type=PartnerType("buurtbemiddeling"), purpose="buurtbemiddeling", legal_basis="test",
        category="overlast.geluid", severity=Severity.NORMAL, buurt_code="BU03634501",
        details=CaseDetails(description="x"), respond_by=now + timedelta(days=5), resolve_by=now + timedelta(days=30),
        requested_at=now - timedelta(minutes=1))
    produce(stack, Topics.REFERRALS, [(case_id.encode(), encode(escalation, "urn:test:referral"))])
    wait_for(lambda: query(stack, "intake", "SELECT count(*) FROM parked_event WHERE park_key = %s",
                           f"referral:{referral_id}")[0][0] == 1, 30, "the escalation to be parked")
    produce(stack, Topics.REFERRALS, [(case_id.encode(), encode(requested, "urn:test:referral"))])
    wait_for(lambda: query(stack, "intake", "SELECT status FROM case_parts WHERE referral_id = %s",
                           referral_id) == [("escalated",)], 30, "the part to show the escalation")
    assert query(stack, "intake", "SELECT count(*) FROM parked_event")[0][0] == 0


def uuid_of(record: bytes) -> str:
    return json.loads(record)["id"]
