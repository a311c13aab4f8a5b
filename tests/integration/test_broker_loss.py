"""Recovery without a person: Tansu (memory only) restarted under the running stack, mid-load.
It comes back with no topics and acknowledges records for the topics it lost; the services
notice the new broker epoch, refill it from their outboxes in order and read it again from
the beginning. Every case still gets its referral and its partner delivery exactly once,
every repeat-threshold escalation fires exactly once, and nobody runs a replay."""

import random
import time

import httpx
import pytest

from samenwijk_dev import demo
from samenwijk_dev.stack import SERVICES, Stack
from tests.conftest import chosen_brokers
from tests.integration.conftest import NUISANCE, auth, query, wait_for

REPEAT_ADDRESSES = 5
NEW_CASES = 12


def body(postcode: str, huisnummer: int) -> dict:
    return {**NUISANCE, "address": {"postcode": postcode, "huisnummer": huisnummer}}


def submit(stack, tokens, payload: dict) -> str:
    """POST a complaint; a 503 while a dependency is away is retried, as a client would."""
    for _ in range(60):
        r = httpx.post(stack.url("intake") + "/v1/cases", json=payload, headers=auth(tokens[demo.CORPORATIONS[0]]),
                       timeout=30)
        if r.status_code != 503:
            assert r.status_code == 201, r.text
            return r.json()["case_id"]
        time.sleep(float(r.headers.get("retry-after", 1)))
    raise AssertionError("intake kept answering 503")


def one(stack, service: str, sql: str, *params) -> int:
    return query(stack, service, sql, *params)[0][0]


def recovered(stack, case_ids: list[str], repeat_cases: list[str]) -> bool:
    referred = one(stack, "referral", "SELECT count(DISTINCT case_id) FROM referrals WHERE case_id = ANY(%s::uuid[])",
                   case_ids)
    escalated = one(stack, "referral", "SELECT count(DISTINCT case_id) FROM escalations WHERE case_id = ANY(%s::uuid[])"
                    " AND reason LIKE 'repeat threshold%%'", repeat_cases)
    delivered = one(stack, "partners", "SELECT count(DISTINCT case_id) FROM referrals WHERE case_id = ANY(%s::uuid[])",
                    case_ids)
    shown = one(stack, "intake", "SELECT count(DISTINCT case_id) FROM case_escalations WHERE case_id = ANY(%s::uuid[])",
                repeat_cases)
    return (referred, escalated, delivered, shown) == (len(case_ids), len(repeat_cases), len(case_ids),
                                                       len(repeat_cases))


@pytest.fixture(scope="module")
def lost(tmp_path_factory: pytest.TempPathFactory):
    """A Tansu stack of its own: the shared ones keep their broker, and intake joins repeat
    complaints (its real repeat window; the shared test stacks turn joining off)."""
    if "tansu" not in chosen_brokers():
        pytest.skip("Tansu not chosen (SAMENWIJK_TEST_BROKERS): only the memory-only broker loses its topics")
    s = Stack.ephemeral(tmp_path_factory.mktemp("broker-loss"), broker_kind="tansu",
                        extra_env={"SAMENWIJK_REPEAT_WINDOW_DAYS": "90"})
    try:
        s.start()
        tokens = demo.dev_tokens(s.jwt_signing_key)

        def routing_ready() -> bool:
            r = httpx.get(s.url("referral") + "/v1/routing/partners", headers=auth(tokens[demo.ADMIN]))
            return r.status_code == 200 and sum(len(p["agreements"]) for p in r.json()) >= len(demo.PARTNERS)

        wait_for(routing_ready, 60, "routing to know the partners")
        yield s, tokens
    finally:
        s.stop()
        s.postgres.destroy()


def test_a_tansu_restart_mid_load_recovers_by_itself_exactly_once(lost):
    stack, tokens = lost
    rng = random.Random()
    repeat_addresses = [(f"10{rng.randint(10, 99)}RT", rng.randint(1, 99999)) for _ in range(REPEAT_ADDRESSES)]
    fresh = iter([(f"10{rng.randint(10, 99)}NW", rng.randint(1, 99999)) for _ in range(2 * NEW_CASES)])

    # before: new cases, and two complaints at each repeat address
    case_ids = [submit(stack, tokens, body(*next(fresh))) for _ in range(NEW_CASES)]
    repeat_cases = [submit(stack, tokens, body(*a)) for a in repeat_addresses]
    assert [submit(stack, tokens, body(*a)) for a in repeat_addresses] == repeat_cases  # joined the open case

    stack.broker.stop()  # mid-load: some of those events are still on their way
    stack.broker.start()

    # after: more new cases, and the third complaint (the repeat threshold) at each address,
    # while the services have not noticed yet — their relays publish into topics that are gone
    case_ids += [submit(stack, tokens, body(*next(fresh))) for _ in range(NEW_CASES)]
    assert [submit(stack, tokens, body(*a)) for a in repeat_addresses] == repeat_cases
    case_ids += repeat_cases

    wait_for(lambda: recovered(stack, case_ids, repeat_cases), 180, "every case referred, delivered and escalated")

    # exactly once: one referral per case, one repeat escalation per repeat case, one delivery each
    per_case = query(stack, "referral", "SELECT case_id, count(*) FROM referrals WHERE case_id = ANY(%s::uuid[])"
                     " GROUP BY case_id", case_ids)
    assert sorted(n for _, n in per_case) == [1] * len(case_ids)
    assert one(stack, "referral", "SELECT count(*) FROM escalations WHERE case_id = ANY(%s::uuid[])"
               " AND reason LIKE 'repeat threshold%%'", repeat_cases) == len(repeat_cases)
    assert one(stack, "partners", "SELECT count(*) FROM referrals WHERE case_id = ANY(%s::uuid[])",
               case_ids) == len(case_ids)
    # the inbox recorded every event intake published about these cases, once (a primary key)
    published = {r[0] for r in query(stack, "intake", "SELECT convert_from(value, 'UTF8')::jsonb ->> 'id' FROM outbox"
                                     " WHERE convert_from(key, 'UTF8') = ANY(%s)", case_ids)}
    handled = {r[0] for r in query(stack, "referral", "SELECT event_id FROM inbox WHERE event_id = ANY(%s)",
                                   list(published))}
    assert handled == published and len(published) >= len(case_ids) + 2 * len(repeat_cases)
    for service in SERVICES:
        assert one(stack, service, "SELECT count(*) FROM parked_event") == 0, service
        metrics = httpx.get(stack.services[service].metrics_url).text
        assert "samenwijk_broker_recoveries_total 1.0" in metrics or \
            "samenwijk_broker_recoveries_total 2.0" in metrics, service
    wait_for(lambda: all(httpx.get(stack.url(s) + "/readyz").status_code == 200 for s in SERVICES), 60,
             "every service ready")
