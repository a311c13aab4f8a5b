"""Health that tells the truth, on the real stack: PostgreSQL stopped under the running
services answers 503 problem details with Retry-After (never `500 text/plain`), readiness
says which dependency is away, and everything recovers by itself when it is back. The
consumer's lag comes from the broker and the group's committed offsets."""

import httpx

from samenwijk_dev import demo
from samenwijk_dev.stack import SERVICES
from tests.integration.conftest import NUISANCE, auth, query, submit, wait_for


def all_ready(stack) -> bool:
    try:
        return all(httpx.get(stack.url(s) + "/readyz", timeout=3).status_code == 200 for s in SERVICES)
    except httpx.HTTPError:
        return False


def test_postgres_down_gets_503_problem_details_with_retry_after_and_recovers(stack, tokens, routing_ready):
    corporation = tokens[demo.CORPORATIONS[0]]
    stack.postgres.stop()
    try:
        for _ in range(3):  # the pool's idle connections die first, then connecting fails: both are 503
            r = httpx.post(stack.url("intake") + "/v1/cases", json=NUISANCE, headers=auth(corporation), timeout=30)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["retry-after"]) > 0
            body = r.json()
            assert (body["status"], body["title"]) == (503, "Service Unavailable") and "try again" in body["detail"]
        ready = httpx.get(stack.url("referral") + "/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        assert int(ready.headers["retry-after"]) > 0
    finally:
        stack.postgres.start()
    wait_for(lambda: all_ready(stack), 60, "every service ready again")
    case_id = submit(stack, tokens, NUISANCE)
    wait_for(lambda: query(stack, "referral", "SELECT count(*) FROM referrals WHERE case_id = %s", case_id)[0][0] >= 1,
             60, "the case after the outage to be referred")


def test_readiness_reports_the_consumer_lag_from_the_broker(stack, routing_ready):
    wait_for(lambda: httpx.get(stack.url("partners") + "/readyz").json()["consumer"]["checked_s_ago"] is not None,
             30, "a first look at the broker")
    report = httpx.get(stack.url("partners") + "/readyz").json()["consumer"]
    assert report["error"] is None and report["stalled"] is False
    assert set(report["groups"]) == {"partners", "partners.pattern0"}  # topics, and the responses pattern
