"""Webhook delivery on the real stack: signed, retried with backoff from a durable table,
dead-lettered with an alert, redelivered by hand, and stopped by a revoked agreement.

The receiver is a small HTTP server in this process that fails a chosen number of times.
Each test subscribes with a short retry schedule of its own (a subscription may carry one),
so the shared partners process needs no restart and other tests see no change."""

import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest

from contracts.envelope import encode
from contracts.events import EscalationRaised
from contracts.topics import Topics
from samenwijk_dev import demo
from samenwijk_dev.postgres import free_port
from services.partners.domain.model import verify
from tests.integration.conftest import auth, envelope, produce, query, read_topic, wait_for
from tests.integration.test_partners_api import partners_url, referral_for, send_referrals

# seconds; the job polls every 0.25 s (default), so waits are at least that long
SHORT = {"initial_seconds": 0.5, "max_seconds": 2, "give_up_after_seconds": 10}


@dataclass
class Receiver:
    """Answers 503 `failures` times, then 200 (with `failures=None`: always 503)."""
    failures: int | None
    port: int = field(default_factory=free_port)
    requests: list[tuple[float, dict[str, str], bytes, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> list[tuple[float, dict[str, str], bytes, int]]:
        return [r for r in self.requests if r[3] == 200]

    def serve(self) -> http.server.ThreadingHTTPServer:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                failing = receiver.failures is None or len(receiver.requests) < receiver.failures
                status = 503 if failing else 200
                receiver.requests.append((time.monotonic(), dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def admin(tokens) -> dict[str, str]:
    return auth(tokens[demo.ADMIN])


@pytest.fixture
def webhook_partner(stack, admin) -> Iterator[str]:
    """A partner of its own (region GM9999: no routing rule reaches it) with an agreement."""
    partner_id = f"test-webhook-{uuid.uuid4().hex[:8]}"
    r = httpx.put(partners_url(stack, f"/v1/admin/partners/{partner_id}"), headers=admin, json={
        "partner_id": partner_id, "name": "Test welzijn", "partner_type": "welzijn", "region": "GM9999",
        "agreements": [{"agreement_id": f"conv-{partner_id}", "purposes": ["welzijn-ondersteuning"],
                        "fields": ["address", "description"], "legal_basis": "AVG art. 6(1)(e)",
                        "valid_from": "2026-01-01"}]})
    assert r.status_code == 200, r.text
    yield partner_id
    httpx.delete(partners_url(stack, f"/v1/admin/partners/{partner_id}/webhook"), headers=admin)


def subscribe(stack, admin, partner_id: str, receiver: Receiver, retry: dict = SHORT) -> bytes:
    r = httpx.put(partners_url(stack, f"/v1/admin/partners/{partner_id}/webhook"), headers=admin,
                  json={"url": receiver.url, "retry": retry})
    assert r.status_code == 200, r.text
    return r.json()["secret"].encode()


def refer(stack, partner_id: str, **details):
    referral = referral_for(partner_id, "welzijn-ondersteuning", "AVG art. 6(1)(e)", "welzijn", **details)
    send_referrals(stack, [referral])
    return referral


def delivery_of(stack, referral) -> tuple:
    rows = query(stack, "partners", "SELECT delivery_id, status, attempts FROM webhook_deliveries"
                 " WHERE referral_id = %s", str(referral.referral_id))
    return rows[0] if rows else None


def test_a_failing_receiver_gets_the_signed_referral_after_backoff_once_it_recovers(stack, admin, webhook_partner):
    receiver = Receiver(failures=3)
    server = receiver.serve()
    try:
        secret = subscribe(stack, admin, webhook_partner, receiver)
        referral = refer(stack, webhook_partner, care_signal="not in this agreement")
        wait_for(receiver.delivered, 20, "the receiver to recover and take the delivery", interval=0.05)
    finally:
        server.shutdown()

    assert [r[3] for r in receiver.requests] == [503, 503, 503, 200]
    # one delivery, the same id and body every time; each attempt freshly signed
    ids = {r[1]["X-Samenwijk-Delivery"] for r in receiver.requests}
    assert len(ids) == 1 and len({r[2] for r in receiver.requests}) == 1
    for _, headers, body, _ in receiver.requests:
        assert verify(secret, headers["X-Samenwijk-Timestamp"], headers["X-Samenwijk-Signature"], body, time.time())
        assert not verify(b"someone-else", headers["X-Samenwijk-Timestamp"], headers["X-Samenwijk-Signature"],
                          body, time.time())
    event = json.loads(receiver.requests[-1][2])
    assert event["id"] == ids.pop() and event["type"] == "nl.samenwijk.referral.requested"
    assert event["data"]["referral_id"] == str(referral.referral_id)
    assert "care_signal" not in event["data"]["details"]  # minimised to the current agreement

    # exponential backoff: each wait at least half of the doubled base (equal jitter)
    times = [r[0] for r in receiver.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert [gap >= 0.25 * 2 ** i * 0.95 for i, gap in enumerate(gaps)] == [True] * 3, gaps

    _, status, attempts = wait_for(lambda: (d := delivery_of(stack, referral)) and d[1] == "delivered" and d,
                                   10, "delivery marked done")
    assert attempts == 4
    # the inbox topic has it too; the processing log has both deliveries
    read_topic(stack, Topics.partner_inbox(webhook_partner),
               lambda rs: any(envelope(x)["data"]["referral_id"] == str(referral.referral_id) for x in rs))
    actions = query(stack, "partners", "SELECT action FROM processing_log WHERE referral_id = %s ORDER BY id",
                    str(referral.referral_id))
    assert [a for (a,) in actions] == ["referral.deliver", "referral.deliver.webhook"]
    failures = httpx.get(stack.services["partners"].metrics_url).text
    assert re.search(rf'samenwijk_webhook_failures_total{{partner="{webhook_partner}"}} 3\.0', failures)
    # the secret is stored sealed and never logged
    [(sealed,)] = query(stack, "partners", "SELECT secret_encrypted FROM webhook_subscriptions WHERE partner_id = %s",
                        webhook_partner)
    assert secret not in bytes(sealed)
    assert secret.decode() not in (stack.run_dir / "partners.log").read_text()


def test_a_receiver_that_keeps_failing_gets_a_dead_letter_an_alert_and_a_manual_redeliver(stack, admin, webhook_partner):
    receiver = Receiver(failures=None)
    server = receiver.serve()
    try:
        subscribe(stack, admin, webhook_partner, receiver, {**SHORT, "give_up_after_seconds": 3})
        referral = refer(stack, webhook_partner)
        delivery_id, _, attempts = wait_for(
            lambda: (d := delivery_of(stack, referral)) and d[1] == "dead" and d, 20, "the dead letter")
        assert attempts == len(receiver.requests) >= 3

        listing = httpx.get(partners_url(stack, "/v1/admin/webhook-deliveries"),
                            params={"status": "dead", "partner_id": webhook_partner}, headers=admin).json()
        assert listing["dead_letters"] >= 1
        assert [(d["delivery_id"], d["last_error"]) for d in listing["items"]] == [(str(delivery_id), "HTTP 5xx")]
        metrics = httpx.get(stack.services["partners"].metrics_url).text
        assert re.search(rf'samenwijk_webhook_dead_letters_total{{partner="{webhook_partner}"}} 1\.0', metrics)

        # the partner's endpoint is fixed; an operator redelivers by hand
        receiver.failures = len(receiver.requests)
        r = httpx.post(partners_url(stack, f"/v1/admin/webhook-deliveries/{delivery_id}/redeliver"), headers=admin)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        wait_for(receiver.delivered, 20, "the redelivery", interval=0.05)
        again = httpx.post(partners_url(stack, f"/v1/admin/webhook-deliveries/{delivery_id}/redeliver"), headers=admin)
    finally:
        server.shutdown()

    [(_, headers, body, _)] = receiver.delivered()
    assert headers["X-Samenwijk-Delivery"] == str(delivery_id)  # the same id: the receiver can dedupe
    assert json.loads(body)["data"]["referral_id"] == str(referral.referral_id)
    wait_for(lambda: delivery_of(stack, referral)[1] == "delivered", 10, "delivery marked done")
    assert again.status_code == 409  # only dead or held deliveries


def test_revoking_the_agreement_stops_a_pending_webhook_delivery_and_holds_the_referral(stack, admin, webhook_partner):
    receiver = Receiver(failures=None)
    server = receiver.serve()
    try:
        subscribe(stack, admin, webhook_partner, receiver)
        referral = refer(stack, webhook_partner)
        wait_for(lambda: receiver.requests, 20, "a first (failing) attempt", interval=0.05)
        r = httpx.post(partners_url(stack, f"/v1/admin/agreements/conv-{webhook_partner}/revoke"), headers=admin)
        assert r.status_code == 200
        wait_for(lambda: delivery_of(stack, referral)[1] == "held", 20, "the delivery to stop")
        tried = len(receiver.requests)
    finally:
        server.shutdown()

    assert not receiver.delivered() and tried >= 1
    [(status, reason)] = query(stack, "partners", "SELECT status, hold_reason FROM referrals WHERE referral_id = %s",
                               str(referral.referral_id))
    assert status == "held" and reason == "no valid agreement for welzijn-ondersteuning at delivery"


def test_a_bad_subscription_is_refused_naming_the_field_and_nothing_is_stored(stack, admin, webhook_partner):
    url = partners_url(stack, f"/v1/admin/partners/{webhook_partner}/webhook")
    r = httpx.put(url, headers=admin, json={"url": "not a url"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"
    r = httpx.put(url, headers=admin, json={"url": "http://127.0.0.1:9/hook",
                                            "retry": {**SHORT, "initial_seconds": 5, "max_seconds": 1}})
    assert r.status_code == 422 and "max_seconds must not be below initial_seconds" in r.text
    r = httpx.put(partners_url(stack, "/v1/admin/partners/no-such-partner/webhook"), headers=admin,
                  json={"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 404
    assert query(stack, "partners", "SELECT count(*) FROM webhook_subscriptions WHERE partner_id IN (%s, %s)",
                 webhook_partner, "no-such-partner") == [(0,)]


def test_an_escalation_assigned_to_a_partner_goes_to_its_inbox_and_its_webhook(stack, admin, webhook_partner):
    receiver = Receiver(failures=0)
    server = receiver.serve()
    try:
        subscribe(stack, admin, webhook_partner, receiver)
        escalation = EscalationRaised(escalation_id=uuid.uuid4(), case_id=uuid.uuid4(), level="coordinator",
                                      reason="geen reactie binnen de termijn", owner_partner_id=webhook_partner,
                                      raised_at=datetime.now(UTC))
        produce(stack, Topics.REFERRALS, [(str(escalation.case_id).encode(), encode(escalation, "urn:test:referral"))])
        wait_for(receiver.delivered, 20, "the escalation by webhook", interval=0.05)
    finally:
        server.shutdown()

    inbox = read_topic(stack, Topics.partner_inbox(webhook_partner), lambda rs: any(
        envelope(x)["data"].get("escalation_id") == str(escalation.escalation_id) for x in rs))
    assert [envelope(x)["type"] for x in inbox] == ["nl.samenwijk.escalation.raised"]
    assert json.loads(receiver.delivered()[0][2])["data"]["escalation_id"] == str(escalation.escalation_id)
