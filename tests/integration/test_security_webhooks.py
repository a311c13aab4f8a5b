"""Webhook SSRF on the real stack (issue 11): the partners service refuses every
attack URL that names an address (no DNS leaves this machine), in dev mode too, where
only plain http to loopback is allowed. The full list, names included, runs against the
same check outside dev mode in tests/unit/test_webhook_ssrf.py."""

import httpx

from services.partners.domain.webhook_target import RefusedTarget, parse_url
from tests.integration.conftest import query, wait_for
from tests.integration.test_partners_webhooks import SHORT, admin, refer, webhook_partner  # noqa: F401
from tests.unit.test_webhook_ssrf import SSRF_URLS


def _allowed_in_dev_mode(url: str) -> bool:
    try:
        target = parse_url(url, dev_mode=True)
    except RefusedTarget:
        return False
    return target.address is not None and target.address.is_loopback


def _names_no_host_to_resolve(url: str) -> bool:
    try:
        return parse_url(url, dev_mode=True).address is not None
    except RefusedTarget:
        return True  # refused before any resolution


ATTACKS = [u for u in SSRF_URLS if _names_no_host_to_resolve(u) and not _allowed_in_dev_mode(u)]


def test_every_address_attack_is_refused_by_the_running_service_naming_the_field(stack, admin, webhook_partner):
    url = stack.url("partners") + f"/v1/admin/partners/{webhook_partner}/webhook"
    accepted = []
    for attack in ATTACKS:
        r = httpx.put(url, headers=admin, json={"url": attack})
        if r.status_code != 422 or r.json()["errors"][0]["field"] != "url":
            accepted.append((attack, r.status_code, r.text))
    assert accepted == [] and len(ATTACKS) >= 45
    assert query(stack, "partners", "SELECT count(*) FROM webhook_subscriptions WHERE partner_id = %s",
                 webhook_partner) == [(0,)]
    # what the admin reads is the class, not what answered
    r = httpx.put(url, headers=admin, json={"url": "https://169.254.169.254/latest/meta-data/"})
    assert r.json()["errors"][0]["message"] == "refused address: link-local"


def test_a_url_that_points_inward_by_delivery_time_is_refused_then_and_never_contacted(stack, admin,
                                                                                     webhook_partner):
    # Registered while it was fine; by delivery time it points at a private address (as a
    # rebinding DNS name would): the delivery job checks the address again before connecting.
    r = httpx.put(stack.url("partners") + f"/v1/admin/partners/{webhook_partner}/webhook", headers=admin,
                  json={"url": "http://127.0.0.1:9/hook", "retry": SHORT})
    assert r.status_code == 200, r.text
    query(stack, "partners", "UPDATE webhook_subscriptions SET url = 'https://10.0.0.5/hook'"
          " WHERE partner_id = %s RETURNING 1", webhook_partner)
    referral = refer(stack, webhook_partner)
    delivery = wait_for(lambda: (d := query(stack, "partners", "SELECT status, last_error FROM webhook_deliveries"
                                             " WHERE referral_id = %s AND last_error IS NOT NULL",
                                             str(referral.referral_id))) and d[0], 20, "a refused attempt")
    assert delivery[1] == "refused address: private"
