"""Erasure reaches the event log (issue 11, item 5): personal values of a case cannot be read
anywhere after erasure — no database table, no topic, no dead letter, no log.

One case with distinctive values (description, contact, arrears, care signal, address, a
partner's decline that becomes an escalation reason, a reopen reason, observation notes)
flows through all four services to partner inboxes, webhooks (one delivered, one dead) and a
dead letter; then the retention job erases it (and a lone observation past its retention).
Afterwards every column of every table in all four databases, the raw bytes of every record
on every topic, and the services' logs and traces are scanned for each value: 0 found.
Before erasure the same scan finds them in the databases (the scan works) and on no topic
(they only ever travel sealed)."""

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.fernet import InvalidToken
from pydantic import SecretStr

from contracts.topics import Topics
from runtime.sealing import KeyStore
from samenwijk_dev import demo
from samenwijk_dev.stack import SERVICES
from tests.integration.conftest import (
    auth,
    open_as_partner,
    produce,
    query,
    read_topic,
    restarted,
    service_token,
    wait_for,
)
from tests.integration.test_partners_webhooks import SHORT, Receiver

CORP = demo.CORPORATIONS[0]


@pytest.fixture(scope="module")
def intake(stack, routing_ready) -> Iterator[str]:
    """Intake with an erasure job that looks twice a second."""
    with restarted(stack, "intake", {"SAMENWIJK_RETENTION_INTERVAL_SECONDS": "0.5"}) as url:
        yield url


def postcode() -> str:
    return f"{random.randint(1000, 9999)}{random.choice('QXZ')}{random.choice('QXZ')}"


def distinctive() -> dict[str, str]:
    u = uuid.uuid4().hex[:10]
    return {
        "description": f"SCANDESC{u} bewoner roept 's nachts",
        "care_signal": f"SCANCARE{u} psychose vermoed",
        "phone": f"06{random.randint(10_000_000, 99_999_999)}",
        "email": f"scan{u}@example.org",
        "arrears": f"{random.randint(1000, 9999)}.{random.randint(10, 99)}",
        "household_ref": f"hh-scan{u}",
        "postcode": postcode(),
        "decline": f"SCANDECLINE{u} geen plek",
        "accept": f"SCANACCEPT{u} huisbezoek",
        "progress": f"SCANPROGRESS{u} gesprek",
        "reopen": f"SCANREOPEN{u} weer onrustig",
        "observation": f"SCANOBS{u} deur open",
        "lone_note": f"SCANLONE{u} zwerfvuil",
        "lone_postcode": postcode(),
    }


# -- the scanners ---------------------------------------------------------------------------

def scan_databases(stack, values: list[str]) -> dict[str, list[str]]:
    """value -> every db.table.column (of every table of every service database) holding it."""
    hits: dict[str, list[str]] = {v: [] for v in values}
    for db in SERVICES:
        with psycopg.connect(stack.postgres.dsn(db)) as conn:
            columns = conn.execute(
                "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
            assert len(columns) > 20, f"{db}: too few columns to be the service's database"
            for schema, table, column, data_type in columns:
                where = f'"{schema}"."{table}"'
                if data_type == "bytea":
                    test = f'position(convert_to(v, \'UTF8\') in "{column}") > 0'
                else:  # text, jsonb, arrays, numbers, anything: as its text
                    test = f"\"{column}\"::text LIKE '%%' || v || '%%'"
                found = conn.execute(f"SELECT v FROM unnest(%s::text[]) v WHERE EXISTS"
                                     f" (SELECT 1 FROM {where} WHERE {test})", (values,)).fetchall()
                for (v,) in found:
                    hits[v].append(f"{db}.{table}.{column}")
    return hits


def every_record(stack) -> list[bytes]:
    """Key, value and headers of every record on every topic, from offset 0 to the end."""
    async def read() -> list[bytes]:
        probe = AIOKafkaConsumer(bootstrap_servers=stack.broker.bootstrap, group_id=None)
        await probe.start()
        try:
            topics = sorted(await probe.topics())
        finally:
            await probe.stop()
        assert {Topics.CASES, Topics.REFERRALS, Topics.PARTNERS, Topics.DEAD_LETTER} <= set(topics)
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=stack.broker.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=50)
        await consumer.start()
        out: list[bytes] = []

        def keep(batch: dict) -> None:
            for recs in batch.values():
                out.extend(b"".join([r.key or b"", r.value or b"", *(v or b"" for _, v in r.headers)])
                           for r in recs)
        try:
            deadline = time.monotonic() + 90
            while {tp.topic for tp in consumer.assignment()} != set(topics) and time.monotonic() < deadline:
                keep(await consumer.getmany(timeout_ms=200))
            parts = sorted(consumer.assignment())
            end = await consumer.end_offsets(parts)
            remaining = {tp for tp in parts if await consumer.position(tp) < end[tp]}
            while remaining and time.monotonic() < deadline:
                keep(await consumer.getmany(*remaining, timeout_ms=500))
                remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
            assert not remaining, f"could not read to the end of {sorted(str(tp) for tp in remaining)}"
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


def scan_topics(stack, values: list[str]) -> dict[str, int]:
    records = every_record(stack)
    return {v: sum(v.encode() in r for r in records) for v in values}


def scan_logs(stack, values: list[str]) -> dict[str, list[str]]:
    """The services' logs and the trace file of this stack."""
    files = [*Path(stack.run_dir).glob("*.log"), Path(stack.run_dir) / "traces.jsonl"]
    texts = {f.name: f.read_bytes() for f in files if f.exists()}
    assert "intake.log" in texts and "traces.jsonl" in texts
    return {v: [name for name, text in texts.items() if v.encode() in text] for v in values}


# -- the flow -------------------------------------------------------------------------------

def subscribe(stack, partner_id: str, receiver: Receiver) -> None:
    r = httpx.put(f"{stack.url('partners')}/v1/admin/partners/{partner_id}/webhook",
                  headers=auth(admin_token(stack)), json={"url": receiver.url, "retry": SHORT})
    assert r.status_code == 200, r.text


def admin_token(stack) -> str:
    return demo.dev_tokens(stack.jwt_signing_key)[demo.ADMIN]


GGZ_AGREEMENT = {"agreement_id": "conv-ggz-2026", "purposes": ["zorg-verward-gedrag", "zorg-verwaarlozing"],
                 "fields": ["address", "description", "care_signal", "household_ref"],
                 "legal_basis": "AVG art. 6(1)(e), art. 9(2)(h); Wet verplichte ggz", "valid_from": "2026-01-01"}


def share_text(stack, recipients: list[str]) -> None:
    """GGZ's agreement (as seeded) with these recipients of its free text."""
    r = httpx.put(f"{stack.url('partners')}/v1/admin/partners/ggz-noord/agreements/conv-ggz-2026",
                  headers=auth(admin_token(stack)), json={**GGZ_AGREEMENT, "free_text_recipients": recipients})
    assert r.status_code == 200, r.text


def referral_for(stack, case_id: str, partner_id: str) -> str:
    rows = wait_for(lambda: query(stack, "partners", "SELECT referral_id FROM referrals WHERE case_id = %s"
                                  " AND partner_id = %s AND status = 'delivered'", case_id, partner_id),
                    30, f"delivery to {partner_id}")
    return str(rows[0][0])


def handled(stack, service: str, event_id: str) -> bool:
    return bool(query(stack, service, "SELECT 1 FROM inbox WHERE event_id = %s", event_id))


def test_no_personal_value_of_an_erased_case_is_left_in_any_database_topic_or_log(stack, tokens, intake):
    v = distinctive()
    corp = auth(tokens[CORP])
    partners = stack.url("partners")
    delivered, dead = Receiver(failures=0), Receiver(failures=None)
    servers = [delivered.serve(), dead.serve()]
    subscribe(stack, "wijkteam-noord", delivered)   # gets its referral over a webhook
    subscribe(stack, "gemeente-amsterdam", dead)    # the escalation's owner: its webhook never answers
    try:
        address = {"postcode": v["postcode"], "huisnummer": random.randint(1, 999)}
        body = {"category": "zorg.verward_gedrag", "severity": "urgent", "address": address,
                "buurt_code": "BU03634502", "wijk_code": "WK036345", "description": v["description"],
                "care_signal": v["care_signal"], "household_ref": v["household_ref"],
                "contact": {"phone": v["phone"], "email": v["email"]},
                "arrears": {"amount_eur": v["arrears"], "months": 4}, "handling_professional": "wc-scan"}
        r = httpx.post(f"{intake}/v1/cases", json=body, headers={**corp, "Idempotency-Key": f"scan-{uuid.uuid4()}"})
        assert r.status_code == 201, r.text
        case_id = r.json()["case_id"]
        seen = httpx.post(f"{intake}/v1/observations", headers=corp, json={
            "category": "zorg.zorgmijding", "buurt_code": "BU03634502", "wijk_code": "WK036345",
            "address": address, "note": v["observation"], "observer": "wb-scan"})
        assert seen.status_code == 201 and seen.json()["case_id"] == case_id, seen.text
        lone = httpx.post(f"{intake}/v1/observations", headers={**corp, "Idempotency-Key": f"scan-{uuid.uuid4()}"},
                          json={"category": "leefbaarheid.afval", "buurt_code": "BU03634502", "wijk_code": "WK036345",
                                "address": {"postcode": v["lone_postcode"], "huisnummer": 5},
                                "note": v["lone_note"], "observer": "wb-scan"})
        assert lone.status_code == 201 and lone.json()["case_id"] is None, lone.text
        lone_id = lone.json()["observation_id"]

        # partners answer: GGZ declines with free text its agreement lets reach the corporation
        # and casusoverleg (no alternative: an escalation goes to the gemeente), the wijkteam
        # accepts and reports progress (its text stays with partners)
        ggz = referral_for(stack, case_id, "ggz-noord")
        wijkteam = referral_for(stack, case_id, "wijkteam-noord")
        share_text(stack, ["corporation", "casusoverleg"])
        assert httpx.post(f"{partners}/v1/referrals/{ggz}/decline",
                          json={"code": "geen_capaciteit", "reason": v["decline"]},
                          headers=auth(tokens["ggz-noord"])).status_code == 200
        for step, payload in (("accept", {"note": v["accept"]}),
                              ("progress", {"code": "huisbezoek_gepland", "note": v["progress"]})):
            assert httpx.post(f"{partners}/v1/referrals/{wijkteam}/{step}", json=payload,
                              headers=auth(tokens["wijkteam-noord"])).status_code == 200

        # the gemeente's inbox holds the escalation; it opens the reason with its inbox key
        inbox = wait_for(lambda: [x for x in read_topic(stack, Topics.partner_inbox("gemeente-amsterdam"),
                                                        lambda rs: any(x.key == case_id.encode() for x in rs))
                                  if x.key == case_id.encode()], 30, "the escalation in the gemeente's inbox")
        escalation = open_as_partner(stack, tokens["gemeente-amsterdam"], inbox[0])
        assert "response_text" not in json.loads(inbox[0].value)["data"]
        assert escalation["response_text"] == v["decline"]
        # the corporation sees GGZ's words (sealed on samenwijk.partners, for intake alone)
        wait_for(lambda: v["decline"] in httpx.get(f"{intake}/v1/cases/{case_id}", headers=corp).text, 30,
                 "intake to show the decline text")
        wijkteam_inbox = [x for x in read_topic(stack, Topics.partner_inbox("wijkteam-noord"),
                                                lambda rs: any(x.key == case_id.encode() for x in rs))
                          if x.key == case_id.encode()]
        assert open_as_partner(stack, tokens["wijkteam-noord"], wijkteam_inbox[0])["details"]["care_signal"] \
            == v["care_signal"]
        # the webhook carries the plaintext (over TLS in production; not a log)
        wait_for(lambda: any(v["description"].encode() in req[2] for req in delivered.delivered()), 30,
                 "the wijkteam's webhook")

        # a dead letter of the case: a tampered copy of its case.opened is refused by referral
        [opened_record] = [x for x in read_topic(stack, Topics.CASES, lambda rs: any(x.key == case_id.encode()
                                                                                        for x in rs))
                           if x.key == case_id.encode() and b"case.opened" in x.value]
        tampered = json.loads(opened_record.value)
        tampered["id"] = str(uuid.uuid4())
        ct = tampered["data"]["sealed"]["ct"]
        tampered["data"]["sealed"]["ct"] = ("A" if ct[0] != "A" else "B") + ct[1:]
        produce(stack, Topics.CASES, [(case_id.encode(), json.dumps(tampered).encode())])
        wait_for(lambda: query(stack, "referral", "SELECT reason FROM dead_letter WHERE key = %s",
                               case_id.encode()), 30, "referral's dead letter")
        wait_for(lambda: query(stack, "partners", "SELECT 1 FROM webhook_deliveries WHERE partner_id ="
                               " 'gemeente-amsterdam' AND case_id = %s AND status = 'dead'", case_id),
                 40, "the gemeente's webhook delivery to be given up")

        # the corporation closes, reopens (a free-text reason) and closes the case again
        for step, payload in (("close", {"outcome": "doorverwezen"}), ("reopen", {"reason": v["reopen"]}),
                              ("close", {"outcome": "opgelost"})):
            assert httpx.post(f"{intake}/v1/cases/{case_id}/{step}", json=payload, headers=corp).status_code == 200
        wait_for(lambda: query(stack, "referral", "SELECT status FROM cases WHERE case_id = %s", case_id)
                 == [("closed",)], 30, "referral to see the case closed")

        values = list(v.values())
        before_db = scan_databases(stack, values)
        for name in ("description", "care_signal", "phone", "decline", "accept", "observation", "lone_note",
                     "postcode"):  # (the reopen reason is kept nowhere but in its sealed event)
            assert before_db[v[name]], f"the scan finds {name} before erasure (else it proves nothing)"
        before_topics = scan_topics(stack, values)
        assert not {k: n for k, n in before_topics.items() if n}, "personal values travel sealed, never in clear"

        # erasure: the case past its retention, the lone observation past its own
        with psycopg.connect(stack.postgres.dsn("intake")) as conn:
            conn.execute("UPDATE cases SET closed_at = now() - interval '731 days' WHERE case_id = %s", (case_id,))
            conn.execute("UPDATE observations SET recorded_at = now() - interval '400 days'"
                         " WHERE observation_id = %s", (lone_id,))
        wait_for(lambda: query(stack, "intake", "SELECT status FROM cases WHERE case_id = %s", case_id)
                 == [("erased",)], 30, "the erasure job")
        wait_for(lambda: query(stack, "intake", "SELECT erased_at IS NOT NULL FROM observations"
                               " WHERE observation_id = %s", lone_id) == [(True,)], 30, "the lone observation")
        erased = [json.loads(x.value) for x in read_topic(stack, Topics.CASES, lambda rs: any(
            x.key == case_id.encode() and b"case.erased" in x.value for x in rs)) if x.key == case_id.encode()
            and b"case.erased" in x.value]
        erased_id = erased[0]["id"]
        wait_for(lambda: all(handled(stack, s, erased_id) for s in ("referral", "partners")), 30,
                 "referral and partners to handle case.erased")

        # the keys are gone: nobody can open any copy any more
        kid = f"intake/case/{case_id}"
        r = httpx.post(f"{intake}/v1/data-keys", json={"kids": [kid]},
                       headers=auth(service_token(stack, "referral", "intake")))
        assert r.status_code == 200 and r.json() == {"keys": {}, "erased": [kid]}
        assert open_as_partner(stack, tokens["gemeente-amsterdam"], inbox[0]) is None
        assert open_as_partner(stack, tokens["wijkteam-noord"], wijkteam_inbox[0]) is None

        # a replay of the old event after erasure: handled as erased, no crash, no dead letter
        replayed = json.loads(opened_record.value)
        replayed["id"] = str(uuid.uuid4())
        letters = query(stack, "referral", "SELECT count(*) FROM dead_letter")[0][0]
        produce(stack, Topics.CASES, [(case_id.encode(), json.dumps(replayed).encode())])
        wait_for(lambda: handled(stack, "referral", replayed["id"]), 30, "the replayed event")
        assert query(stack, "referral", "SELECT count(*) FROM dead_letter")[0][0] == letters

        records = every_record(stack)
        of_case = [x for x in records if case_id.encode() in x]
        print(f"\nrecords of the case on the topics: {len(of_case)}")
        # intake 9 (opened, complaint, observation, closed, reopened, closed, erased, tampered, replayed),
        # referral ≥4, partners ≥3, three inboxes, a dead letter: the scan reads them all
        assert len(of_case) >= 20
        after_db = scan_databases(stack, values)
        after_topics = scan_topics(stack, values)
        after_logs = scan_logs(stack, values)
        found = {"databases": {k: h for k, h in after_db.items() if h},
                 "topics": {k: n for k, n in after_topics.items() if n},
                 "logs": {k: h for k, h in after_logs.items() if h}}
        print(f"\nerasure scan: {len(values)} personal values, 4 databases, "
              f"{len(records)} records on every topic; found after erasure: "
              f"{sum(len(h) for h in after_db.values())} in tables, {sum(after_topics.values())} in records, "
              f"{sum(len(h) for h in after_logs.values())} in logs")
        assert found == {"databases": {}, "topics": {}, "logs": {}}, found
    finally:
        for server in servers:
            server.shutdown()
        for partner_id in ("wijkteam-noord", "gemeente-amsterdam"):
            httpx.delete(f"{partners}/v1/admin/partners/{partner_id}/webhook", headers=auth(admin_token(stack)))
        share_text(stack, [])


def test_reporting_cannot_obtain_any_data_key_and_the_refusal_is_logged(stack, tokens, routing_ready):
    r = httpx.post(stack.url("intake") + "/v1/cases", headers=auth(tokens[CORP]), json=demo.CONFUSED_PERSON)
    assert r.status_code == 201
    case_id = r.json()["case_id"]
    wait_for(lambda: query(stack, "referral", "SELECT 1 FROM referrals WHERE case_id = %s", case_id), 30, "routing")
    asks = {"intake": f"intake/case/{case_id}", "referral": f"referral/referral/{case_id}",
            "partners": f"partners/inbox.ggz-noord/{case_id}"}
    for producer, kid in asks.items():
        r = httpx.post(f"{stack.url(producer)}/v1/data-keys", json={"kids": [kid]},
                       headers=auth(service_token(stack, "reporting", producer)))
        assert r.status_code == 403, (producer, r.text)
    assert query(stack, "intake", "SELECT outcome FROM processing_log WHERE case_id = %s AND action ="
                 " 'data_key.release' AND organisation_id = 'reporting'", case_id) == [("denied",)]
    # what may: referral, for intake's case details — with a token for intake as audience only
    kid = asks["intake"]
    ok = httpx.post(f"{stack.url('intake')}/v1/data-keys", json={"kids": [kid]},
                    headers=auth(service_token(stack, "referral", "intake")))
    assert ok.status_code == 200 and kid in ok.json()["keys"]
    wrong_audience = httpx.post(f"{stack.url('intake')}/v1/data-keys", json={"kids": [kid]},
                                headers=auth(service_token(stack, "referral", "partners")))
    assert wrong_audience.status_code == 401
    assert httpx.post(f"{stack.url('intake')}/v1/data-keys", json={"kids": [kid]},
                      headers=auth(tokens[CORP])).status_code == 403  # an organisation's token is no service token
    assert httpx.post(f"{stack.url('intake')}/v1/data-keys", json={"kids": [kid]}).status_code == 401
    # and what reporting holds of the case has none of its personal values
    wait_for(lambda: query(stack, "reporting", "SELECT 1 FROM case_facts WHERE case_id = %s", case_id), 30,
             "reporting to have the case")
    personal = [demo.CONFUSED_PERSON["care_signal"], demo.CONFUSED_PERSON["description"],
                demo.CONFUSED_PERSON["contact"]["phone"]]
    with psycopg.connect(stack.postgres.dsn("reporting")) as conn:
        assert not conn.execute("SELECT 1 FROM case_facts f WHERE row_to_json(f)::text LIKE ANY (%s)",
                                ([f"%{p}%" for p in personal],)).fetchall()


def test_rekey_rewraps_every_data_key_under_the_newest_kek(stack):
    """KEK rotation: after `python -m runtime.rekey --yes` the old secret can go."""
    dsn = stack.postgres.dsn("intake")
    running = stack.services["intake"].env["SAMENWIJK_DATA_KEY_KEK"]  # the keys already there
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():  # rolled back: the running intake keeps its keys
                old, new = "rotation-test-old-kek-0123456789abcdef", "rotation-test-new-kek-0123456789abcdef"
                subject = str(uuid.uuid4())
                kid, key = await KeyStore("intake", SecretStr(old)).key_for(conn, "case", subject)
                assert await KeyStore("intake", SecretStr(f"{new},{old},{running}")).rotate(conn) >= 1
                assert (await KeyStore("intake", SecretStr(new)).existing(conn, [kid]))[kid] == key
                with pytest.raises(InvalidToken):
                    await KeyStore("intake", SecretStr(old)).existing(conn, [kid])
                raise _Rollback
        except _Rollback:
            pass
        finally:
            await conn.close()

    asyncio.run(run())


class _Rollback(Exception):
    pass
