"""Operations: one trace per case across the services, metrics that move, no personal
data in logs or spans."""

import json
import re

import httpx

from samenwijk_dev import demo
from tests.integration.conftest import CONFUSED_PERSON, NUISANCE, auth, submit, wait_for


def metric(stack, service: str, name: str, labels: str = "") -> float:
    text = httpx.get(stack.services[service].metrics_url).text
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(name + ("{" if labels or "{" in line.split(" ")[0] else " ")) and labels in line:
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found or name.endswith("_lag"), f"{name} not exposed by {service}"
    return total


def spans(stack) -> list[dict]:
    path = stack.run_dir / "traces.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def test_one_trace_covers_the_case_in_all_four_services_and_survives_the_outbox(stack, tokens, routing_ready):
    case_id = submit(stack, tokens, CONFUSED_PERSON)

    def traced():
        everything = spans(stack)
        mine = [s for s in everything if s["attributes"].get("samenwijk.case_id") == case_id]
        services = {s["service"] for s in mine}
        # and the last hop's publish span is flushed too (spans are exported in batches)
        relayed = {s["service"] for s in everything if s["name"].endswith("publish")
                   and s["trace_id"] in {m["trace_id"] for m in mine}}
        return mine if {"intake", "referral", "partners", "reporting"} <= services and "partners" in relayed else None

    handled = wait_for(traced, 30, "spans of the case in every service", interval=0.5)
    trace_ids = {s["trace_id"] for s in handled}
    assert len(trace_ids) == 1  # one trace from the POST to the partner inbox
    trace = [s for s in spans(stack) if s["trace_id"] in trace_ids]
    roots = [s for s in trace if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["POST /v1/cases"] and roots[0]["service"] == "intake"
    # the relays' publish spans continue the trace the outbox rows were written in
    published = {s["service"] for s in trace if s["name"].endswith("publish")}
    assert {"intake", "referral", "partners"} <= published
    # and the database work inside it, query by query (placeholders only, never values)
    sql = [s for s in trace if s["attributes"].get("db.system", "").startswith("postgres")]
    assert {"intake", "referral", "partners"} <= {s["service"] for s in sql}


def test_consumer_lag_moves_when_consumption_is_paused_and_recovers(stack, tokens, routing_ready):
    admin = auth(tokens[demo.ADMIN])
    assert httpx.post(stack.url("reporting") + "/v1/ops/consumption/pause", headers=admin).status_code == 204
    try:
        for _ in range(3):
            submit(stack, tokens, NUISANCE)
        wait_for(lambda: metric(stack, "reporting", "samenwijk_consumer_lag", 'topic="samenwijk.cases"') >= 3,
                 20, "lag to show the unconsumed case events")
        assert metric(stack, "reporting", "samenwijk_consumer_paused") == 1
    finally:
        assert httpx.post(stack.url("reporting") + "/v1/ops/consumption/resume", headers=admin).status_code == 204
    wait_for(lambda: metric(stack, "reporting", "samenwijk_consumer_lag") == 0, 20, "lag back to zero")


def test_outbox_backlog_moves_when_the_relay_is_held_and_recovers(stack, tokens, routing_ready):
    admin = auth(tokens[demo.ADMIN])
    # only an admin may do this
    assert httpx.post(stack.url("intake") + "/v1/ops/relay/pause",
                      headers=auth(tokens[demo.CORPORATIONS[0]])).status_code == 403
    assert httpx.post(stack.url("intake") + "/v1/ops/relay/pause", headers=admin).status_code == 204
    try:
        submit(stack, tokens, NUISANCE)
        assert metric(stack, "intake", "samenwijk_outbox_backlog") >= 2  # case.opened + complaint.received
        wait_for(lambda: metric(stack, "intake", "samenwijk_outbox_oldest_age_seconds") > 0, 10, "age to grow")
    finally:
        httpx.post(stack.url("intake") + "/v1/ops/relay/resume", headers=admin)
    wait_for(lambda: metric(stack, "intake", "samenwijk_outbox_backlog") == 0, 20, "backlog drained")
    assert metric(stack, "intake", "samenwijk_outbox_oldest_age_seconds") == 0
    assert metric(stack, "intake", "samenwijk_http_request_duration_seconds_count", 'route="/v1/cases"') >= 1


PERSONAL = [CONFUSED_PERSON["description"], CONFUSED_PERSON["care_signal"], CONFUSED_PERSON["contact"]["phone"],
            CONFUSED_PERSON["household_ref"], NUISANCE["reporter"]["name"], NUISANCE["reporter"]["phone"],
            NUISANCE["description"], "1024AB", "1024AC"]


def test_no_personal_data_in_logs_or_span_attributes(stack, tokens, routing_ready):
    demo.run({n: stack.url(n) for n in stack.services}, stack.broker.bootstrap, tokens, out=lambda _: None)
    wait_for(lambda: spans(stack), 10, "spans")
    files = [stack.run_dir / f"{s}.log" for s in stack.services] + [stack.run_dir / "traces.jsonl"]
    for path in files:
        text = path.read_text()
        for value in PERSONAL:
            assert value not in text, f"{value!r} found in {path.name}"
        assert not re.search(r"\b[1-9][0-9]{3} ?[A-Z]{2}\b", text), f"a postcode in {path.name}"
