"""Referral on the real broker and PostgreSQL: durable deadline timers (also across a kill at
the due moment), decline handling, the repeat threshold, closing and erasing a case."""

import asyncio
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr

from contracts.envelope import encode
from contracts.events import Address, CaseClosed, CaseDetails, CaseErased, CaseOpened, ComplaintReceived, Severity
from contracts.topics import Topics
from runtime.db import init_connection
from runtime.sealing import KeyStore
from runtime.unit_of_work import UnitOfWork
from samenwijk_dev import demo
from services.referral.service_layer.handlers import Context, fire_due_timers
from services.referral.service_layer.rulebook import Rulebook
from tests.integration.conftest import NUISANCE, auth, envelope, produce, query, read_topic, wait_for
from tests.integration.conftest import opened as open_sealed

RAISED = "nl.samenwijk.escalation.raised"
RESOLVED = "nl.samenwijk.escalation.resolved"
EXPIRED = "nl.samenwijk.referral.expired"
WITHDRAWN = "nl.samenwijk.referral.withdrawn"


def open_nuisance_case(stack) -> str:
    """case.opened for a nuisance case at an address of its own, as intake would publish it
    (straight onto the topic: these tests are about referral, whatever intake is doing)."""
    case_id = uuid.uuid4()
    opened = CaseOpened(
        case_id=case_id, corporation_id=demo.CORPORATIONS[0], category=NUISANCE["category"], severity=Severity.NORMAL,
        buurt_code=NUISANCE["buurt_code"], wijk_code=NUISANCE["wijk_code"],
        details=CaseDetails(address=Address(postcode=f"10{random.randint(10, 99)}XY", huisnummer=random.randint(1, 9999)),
                            description=NUISANCE["description"]),
        opened_at=datetime.now(UTC))
    produce(stack, Topics.CASES, [(str(case_id).encode(), encode(opened, "urn:test:intake"))])
    return str(case_id)


def referral_of(stack, case_id: str) -> tuple[str, str]:
    rows = wait_for(lambda: query(stack, "referral", "SELECT referral_id, partner_id FROM referrals WHERE case_id = %s",
                                  case_id), 20, "the referral")
    return str(rows[0][0]), rows[0][1]


def events_of(stack, case_id: str, until) -> list[dict]:
    records = read_topic(stack, Topics.REFERRALS,
                         lambda rs: until([envelope(r) for r in rs if r.key == case_id.encode()]))
    return [envelope(r) for r in records if r.key == case_id.encode()]


def of_type(events: list[dict], type_: str) -> list[dict]:
    """Each event once: the outbox relay is at-least-once, so a kill between publishing and
    marking rows published sends the same event (same CloudEvents id) again; consumers'
    inboxes absorb that. What must never happen is a second, different escalation."""
    unique = {e["id"]: e for e in events if e["type"] == type_}
    return list(unique.values())


def make_due(stack, referral_id: str, kind: str) -> None:
    """Simulate the passing of time: the deadline is now."""
    query(stack, "referral", "UPDATE timers SET due_at = now() - interval '1 second'"
          " WHERE referral_id = %s AND kind = %s RETURNING timer_id", referral_id, kind)


def restart_referral(stack, **env: str) -> None:
    """Restart with these test settings (and none left from an earlier restart)."""
    svc = stack.services["referral"]
    svc.stop()
    for name in [n for n in svc.env if n.startswith(("SAMENWIJK_FAULT_", "SAMENWIJK_TIMER_", "SAMENWIJK_RULES_"))]:
        del svc.env[name]
    svc.env.update(env)
    svc.start()


def test_a_deadline_fires_exactly_once_when_referral_is_killed_at_the_due_moment(stack, tokens, routing_ready):
    case_id = open_nuisance_case(stack)
    referral_id, partner_id = referral_of(stack, case_id)
    svc = stack.services["referral"]
    try:
        # 1. killed right after the timer's transaction committed (escalation still in the outbox)
        restart_referral(stack, SAMENWIJK_FAULT_KILL_AFTER_TIMER_COMMIT="1", SAMENWIJK_TIMER_POLL_SECONDS="0.2")
        make_due(stack, referral_id, "respond")
        wait_for(lambda: svc.proc.poll() is not None, 20, "referral to be killed after the timer commit")
        svc.kill()
        restart_referral(stack, SAMENWIJK_TIMER_POLL_SECONDS="0.2")

        # 2. killed from outside while the resolve deadline is due
        make_due(stack, referral_id, "resolve")
        svc.kill()
        restart_referral(stack, SAMENWIJK_TIMER_POLL_SECONDS="0.2")

        # the resolve deadline's expiry comes after the respond escalation in this case's order
        events = events_of(stack, case_id, lambda es: any(e["type"] == EXPIRED and e["data"]["deadline"] == "resolve"
                                                          for e in es))
    finally:
        if svc.proc is None or svc.proc.poll() is not None:
            svc.kill()
        restart_referral(stack)

    raised = of_type(events, RAISED)
    assert len(raised) == 1, raised
    assert raised[0]["data"]["level"] == "coordinator"
    assert raised[0]["data"]["referral_id"] == referral_id
    assert raised[0]["data"]["owner_partner_id"] == partner_id
    assert sorted(e["data"]["deadline"] for e in of_type(events, EXPIRED)) == ["resolve", "respond"]
    assert query(stack, "referral", "SELECT count(*) FROM escalations WHERE case_id = %s", case_id) == [(1,)]
    assert query(stack, "referral", "SELECT count(*) FROM timers WHERE referral_id = %s AND fired_at IS NULL"
                 " AND kind IN ('respond', 'resolve')", referral_id) == [(0,)]


def test_several_instances_claiming_at_once_fire_a_deadline_once(stack, tokens, routing_ready):
    """Two more timer workers on referral's database race the running service for one due timer."""
    case_id = open_nuisance_case(stack)
    referral_id, _ = referral_of(stack, case_id)
    ctx = Context(Rulebook(Path("services/referral/rules")))

    async def instance(start: asyncio.Event) -> int:
        conn = await asyncpg.connect(stack.postgres.dsn("referral"))
        await init_connection(conn)
        try:
            await start.wait()
            async with conn.transaction():
                keys = KeyStore("referral", SecretStr(stack.services["referral"].env["SAMENWIJK_DATA_KEY_KEK"]))
                uow = UnitOfWork(conn, "urn:nld:samenwijk:referral", keys)
                fired = await fire_due_timers(uow, ctx)
                await uow.flush()
            return fired
        finally:
            await conn.close()

    async def race() -> list[int]:
        start = asyncio.Event()
        workers = [asyncio.create_task(instance(start)) for _ in range(2)]
        await asyncio.sleep(0.3)  # both connected
        make_due(stack, referral_id, "respond")
        start.set()
        return await asyncio.gather(*workers)

    asyncio.run(race())

    wait_for(lambda: query(stack, "referral", "SELECT fired_at FROM timers WHERE referral_id = %s AND kind = 'respond'"
                           " AND fired_at IS NOT NULL", referral_id), 20, "the timer to fire")
    events = events_of(stack, case_id, lambda es: of_type(es, RAISED))
    assert len(of_type(events, RAISED)) == 1
    assert query(stack, "referral", "SELECT count(*) FROM escalations WHERE case_id = %s", case_id) == [(1,)]


def test_a_decline_with_no_alternative_partner_goes_to_casusoverleg(stack, tokens, routing_ready):
    case_id = open_nuisance_case(stack)
    referral_id, partner_id = referral_of(stack, case_id)
    wait_for(lambda: httpx.get(f"{stack.url('partners')}/v1/referrals/{referral_id}",
                               headers=auth(tokens[partner_id])).status_code == 200, 20, "delivery")

    r = httpx.post(f"{stack.url('partners')}/v1/referrals/{referral_id}/decline",
                   json={"code": "geen_capaciteit", "reason": "team vol tot maart"}, headers=auth(tokens[partner_id]))
    assert r.status_code == 200, r.text

    events = events_of(stack, case_id, lambda es: of_type(es, RAISED))
    [raised] = of_type(events, RAISED)
    assert raised["data"]["level"] == "casusoverleg"
    assert raised["data"]["owner_partner_id"] == "gemeente-amsterdam"
    assert "geen capaciteit" in raised["data"]["reason"] and "maart" not in raised["data"]["reason"]
    assert raised["data"]["response_code"] == "geen_capaciteit"
    # the buurtbemiddeling route's alternative (welzijn) has no partner in this region: no new referral
    assert [e["data"]["partner_id"] for e in of_type(events, "nl.samenwijk.referral.requested")] == [partner_id]


def test_third_overlast_complaint_goes_straight_to_the_woonoverlast_track_once(stack, tokens, routing_ready):
    case_id = open_nuisance_case(stack)
    referral_of(stack, case_id)
    now = datetime.now(UTC)
    complaints = [ComplaintReceived(case_id=uuid.UUID(case_id), complaint_id=uuid.uuid4(), corporation_id=demo.CORPORATIONS[0],
                                    category=category, buurt_code=NUISANCE["buurt_code"], repeat_count=n, received_at=now)
                  for n, category in ((2, "overlast.geluid"), (3, "overlast.stank"), (4, "overlast.geluid"))]
    event_ids = [uuid.uuid4() for _ in complaints]
    produce(stack, Topics.CASES, [(case_id.encode(), encode(c, "urn:test:intake", event_id))
                                  for c, event_id in zip(complaints, event_ids, strict=True)])

    # every complaint handled (the inbox holds each event id once it took effect)
    wait_for(lambda: query(stack, "referral", "SELECT count(*) FROM inbox WHERE event_id = ANY (%s)",
                           [str(e) for e in event_ids]) == [(3,)], 20, "the complaints to be handled")
    events = events_of(stack, case_id, lambda es: of_type(es, RAISED))
    raised = of_type(events, RAISED)
    assert [e["data"]["level"] for e in raised] == ["woonoverlast"]
    assert raised[0]["data"]["owner_partner_id"] == "gemeente-amsterdam"
    assert "complaint 3" in open_sealed(stack, raised[0], "partners")["reason"]


def test_closing_a_case_withdraws_its_referrals_and_resolves_its_escalations(stack, tokens, routing_ready):
    case_id = open_nuisance_case(stack)
    referral_id, _ = referral_of(stack, case_id)
    make_due(stack, referral_id, "respond")  # an open escalation to resolve
    wait_for(lambda: query(stack, "referral", "SELECT 1 FROM escalations WHERE case_id = %s", case_id), 20,
             "the deadline escalation")

    closed = CaseClosed(case_id=uuid.UUID(case_id), corporation_id=demo.CORPORATIONS[0], outcome="opgelost",
                        closed_at=datetime.now(UTC))
    produce(stack, Topics.CASES, [(case_id.encode(), encode(closed, "urn:test:intake"))])

    events = events_of(stack, case_id, lambda es: of_type(es, WITHDRAWN) and of_type(es, RESOLVED))
    [withdrawn] = of_type(events, WITHDRAWN)
    assert withdrawn["data"]["referral_id"] == referral_id
    [raised] = of_type(events, RAISED)
    [resolved] = of_type(events, RESOLVED)
    assert resolved["data"]["escalation_id"] == raised["data"]["escalation_id"]
    assert query(stack, "referral", "SELECT status FROM referrals WHERE case_id = %s", case_id) == [("withdrawn",)]


def test_case_erased_removes_the_personal_data_referral_holds(stack, tokens, routing_ready):
    case_id = open_nuisance_case(stack)
    referral_of(stack, case_id)
    erased = CaseErased(case_id=uuid.UUID(case_id), erased_at=datetime.now(UTC))
    produce(stack, Topics.CASES, [(case_id.encode(), encode(erased, "urn:test:intake"))])

    wait_for(lambda: query(stack, "referral", "SELECT 1 FROM cases WHERE case_id = %s AND opened IS NULL", case_id),
             20, "erasure")
    assert query(stack, "referral", "SELECT details FROM referrals WHERE case_id = %s", case_id) == [(None,)]
    assert query(stack, "referral", "SELECT count(*) FROM timers WHERE case_id = %s AND fired_at IS NULL",
                 case_id) == [(0,)]


def test_rules_can_be_reloaded_by_an_admin(stack, tokens, routing_ready):
    r = httpx.post(f"{stack.url('referral')}/v1/routing/rules/reload", headers=auth(tokens[demo.ADMIN]))
    assert r.status_code == 200, r.text
    assert r.json()["regions"] == ["GM0363"] and r.json()["refused"] == {}
    assert httpx.post(f"{stack.url('referral')}/v1/routing/rules/reload",
                      headers=auth(tokens["ggz-noord"])).status_code == 403


def test_an_invalid_rule_change_is_refused_and_routing_goes_on_with_the_last_good_rules(stack, tokens, routing_ready,
                                                                                         tmp_path):
    rules = tmp_path / "GM0363-amsterdam.yaml"
    rules.write_text(Path("services/referral/rules/GM0363-amsterdam.yaml").read_text())
    admin = auth(tokens[demo.ADMIN])
    try:
        restart_referral(stack, SAMENWIJK_RULES_DIR=str(tmp_path), SAMENWIJK_RULES_POLL_SECONDS="0.2")
        rules.write_text(rules.read_text().replace("partner_type: buurtbemiddeling", "partner_type: buurtwacht", 1))

        def refused() -> dict:
            return httpx.get(f"{stack.url('referral')}/v1/routing/rules", headers=admin).json()["refused"]

        problem = wait_for(lambda: refused().get(str(rules)), 20, "the file watcher to refuse the change")
        assert problem.startswith(f"{rules}: line ") and "partner_type" in problem

        case_id = open_nuisance_case(stack)  # still routed by the last good rules
        assert referral_of(stack, case_id)[1] == "buurtbemiddeling-amsterdam"
    finally:
        restart_referral(stack)
