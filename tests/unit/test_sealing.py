"""Crypto-shredding: the field table in contracts/personal.py, sealing and opening, the
consumer's handling of sealed, erased and withheld fields, and the key client's cache."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import SecretStr

from contracts.envelope import CONTENT_TYPE, encode_data
from contracts.events import EVENTS, CaseDetails, CaseOpened, Contact, Severity
from contracts.personal import PERSONAL, Sealed, readers_of, sealing_for
from contracts.topics import Topics
from runtime.consumer import Consumer, EventMeta, EventRouter
from runtime.keyring import KeyRing, KeysUnavailable
from runtime.sealing import CannotOpen, KeyStore, b64e, open_data, seal_data, split_personal
from runtime.settings import ServiceSettings
from runtime.unit_of_work import UnitOfWork
from tests.unit.fakes import FakePool

KEY = b"\x01" * 32
CARE = "distinctive care signal 7f3a"


def opened_case() -> CaseOpened:
    return CaseOpened(case_id=uuid.uuid4(), corporation_id="corp-test", category="zorg.verward_gedrag",
                      severity=Severity.URGENT, buurt_code="BU03634501", wijk_code="WK036345",
                      details=CaseDetails(description="noise", care_signal=CARE, contact=Contact(phone="0612345678")),
                      opened_at=datetime(2026, 3, 4, 10, 0, tzinfo=UTC))


def sealed_record(event: CaseOpened, key: bytes = KEY, offset: int = 0) -> ConsumerRecord:
    sealing = PERSONAL["case.opened"]
    clear, personal = split_personal(event.model_dump(mode="json", exclude_none=True), sealing)
    kid = f"intake/case/{event.case_id}"
    data = seal_data(clear, personal, key=key, kid=kid, event_type=event.type_name(), subject=str(event.case_id))
    value = encode_data(event, data, "urn:nld:samenwijk:intake")
    return ConsumerRecord(Topics.CASES, 0, offset, 0, 0, str(event.case_id).encode(), value, None, len(value), 0,
                          [("content-type", CONTENT_TYPE.encode())])


# -- the table ----------------------------------------------------------------------------

def test_every_personal_field_exists_and_is_optional_so_a_non_reader_can_still_read_the_rest():
    for event_type, sealing in PERSONAL.items():
        models = [m for m in EVENTS.values() if m.event_type == event_type]
        for model in models:
            for name in sealing.fields:
                assert name in model.model_fields, f"{event_type}.{name}"
                assert not model.model_fields[name].is_required(), f"{event_type}.{name} must be optional"
            assert "sealed" in model.model_fields, f"{event_type} documents its sealed value"


def test_reporting_reads_no_personal_field_of_any_event():
    classes = {s.key_class for s in PERSONAL.values()}
    assert not [c for c in classes if "reporting" in readers_of(c)]


def test_a_partner_inbox_seals_under_that_partners_own_class():
    s = sealing_for("referral.requested", Topics.partner_inbox("ggz-noord"))
    assert s is not None and s.key_class == "inbox.ggz-noord" and s.readers == frozenset()
    assert sealing_for("complaint.received", Topics.CASES) is None


# -- sealing ------------------------------------------------------------------------------

def test_sealed_fields_open_only_with_their_key_and_only_in_their_own_event():
    event = opened_case()
    record = sealed_record(event)
    assert CARE.encode() not in record.value and b"0612345678" not in record.value
    env = json.loads(record.value)
    sealed = Sealed.model_validate(env["data"]["sealed"])
    assert open_data(sealed, KEY, event_type=env["type"], subject=env["subject"])["details"]["care_signal"] == CARE
    with pytest.raises(CannotOpen):
        open_data(sealed, b"\x02" * 32, event_type=env["type"], subject=env["subject"])
    with pytest.raises(CannotOpen):  # moved to another case
        open_data(sealed, KEY, event_type=env["type"], subject=str(uuid.uuid4()))
    with pytest.raises(CannotOpen):  # moved to another event type
        open_data(sealed, KEY, event_type="nl.samenwijk.referral.requested", subject=env["subject"])


async def test_a_unit_of_work_seals_and_after_shredding_leaves_the_personal_fields_out():
    pool = FakePool()
    keys = KeyStore("intake", SecretStr("unit-test-kek-0123456789abcdef0123456789"))
    event = opened_case()
    async with pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, "urn:nld:samenwijk:intake", keys)  # type: ignore[arg-type]
        uow.publish(event, Topics.CASES)
        await uow.flush()
        pool.tables.erased_subjects.add(str(event.case_id))
        pool.tables.data_keys.clear()  # what shred() does
        uow.publish(event, Topics.CASES)
        await uow.flush()
    first, after = (json.loads(r.value)["data"] for r in pool.outbox)
    assert first["sealed"]["kid"] == f"intake/case/{event.case_id}" and "details" not in first
    assert CARE not in json.dumps(first)
    assert "sealed" not in after and "details" not in after and after["category"] == "zorg.verward_gedrag"


# -- consuming ----------------------------------------------------------------------------

class FakeKeyRing(KeyRing):
    def __init__(self, service: str, keys: dict[str, bytes | None]) -> None:
        super().__init__(ServiceSettings(service_name=service))
        self.known = keys
        self.asked: list[set[str]] = []

    async def keys(self, kids: set[str]) -> dict[str, bytes | None]:
        self.asked.append(kids)
        return {k: self.known.get(k) for k in kids}


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[CaseOpened, EventMeta]] = []

    async def __call__(self, event: CaseOpened, meta: EventMeta, uow: UnitOfWork) -> None:
        self.events.append((event, meta))


async def consume(service: str, keyring: FakeKeyRing, record: ConsumerRecord) -> tuple[Seen, FakePool]:
    pool, seen = FakePool(), Seen()
    router = EventRouter(topic=Topics.CASES)
    router.on(CaseOpened)(seen)
    consumer = Consumer(ServiceSettings(service_name=service), lambda: pool, None, keyring)  # type: ignore[arg-type]
    await consumer.process(router, (record,))
    return seen, pool


async def test_a_reader_gets_the_fields_back():
    event = opened_case()
    ring = FakeKeyRing("referral", {f"intake/case/{event.case_id}": KEY})
    seen, pool = await consume("referral", ring, sealed_record(event))
    [(got, meta)] = seen.events
    assert meta.personal == "opened" and got.details is not None and got.details.care_signal == CARE
    assert pool.dead_letters == []


async def test_an_erased_key_is_handled_without_the_fields_and_is_no_dead_letter():
    event = opened_case()
    ring = FakeKeyRing("referral", {})  # the producer no longer has it
    seen, pool = await consume("referral", ring, sealed_record(event))
    [(got, meta)] = seen.events
    assert meta.personal == "erased" and got.details is None and got.category == "zorg.verward_gedrag"
    assert pool.dead_letters == []


async def test_a_service_that_is_no_reader_never_asks_for_the_key():
    event = opened_case()
    ring = FakeKeyRing("reporting", {f"intake/case/{event.case_id}": KEY})
    seen, _ = await consume("reporting", ring, sealed_record(event))
    [(got, meta)] = seen.events
    assert meta.personal == "withheld" and got.details is None and ring.asked == []


async def test_a_tampered_sealed_value_is_a_dead_letter():
    event = opened_case()
    record = sealed_record(event, key=b"\x09" * 32)  # sealed under another key than the producer's
    ring = FakeKeyRing("referral", {f"intake/case/{event.case_id}": KEY})
    seen, pool = await consume("referral", ring, record)
    assert seen.events == [] and "do not open" in pool.dead_letters[0].reason


# -- the key client -----------------------------------------------------------------------

async def test_the_key_client_caches_remembers_erasure_and_fails_transiently():
    calls: list[dict[str, Any]] = []
    status = {"code": 200}

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append({"url": str(request.url), "kids": body["kids"], "auth": request.headers["authorization"]})
        if status["code"] != 200:
            return httpx.Response(status["code"])
        return httpx.Response(200, json={"keys": {k: b64e(KEY) for k in body["kids"] if "live" in k},
                                         "erased": [k for k in body["kids"] if "live" not in k]})

    settings = ServiceSettings(service_name="referral", key_service_urls={"intake": "http://intake.test"},
                               service_tokens=SecretStr(json.dumps({"intake": "token-for-intake"})))
    ring = KeyRing(settings, transport=httpx.MockTransport(answer))
    got = await ring.keys({"intake/case/live-1", "intake/case/gone-2"})
    assert got == {"intake/case/live-1": KEY, "intake/case/gone-2": None}
    assert await ring.keys({"intake/case/live-1", "intake/case/gone-2"}) == got
    assert len(calls) == 1 and calls[0]["url"] == "http://intake.test/v1/data-keys"
    assert calls[0]["auth"] == "Bearer token-for-intake"
    ring.forget("live-1")  # case.erased seen
    status["code"] = 403
    with pytest.raises(KeysUnavailable):
        await ring.keys({"intake/case/live-1"})
    with pytest.raises(KeysUnavailable):
        await ring.keys({"partners/inbox.x/1"})  # no URL for that producer
    await ring.close()


async def test_without_credentials_a_service_cannot_ask_and_says_why():
    settings = ServiceSettings(service_name="referral", key_service_urls={"intake": "http://intake.test"})
    ring = KeyRing(settings, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(KeysUnavailable, match="no service credentials"):
        await ring.keys({"intake/case/1"})
    await ring.close()


async def test_a_service_gets_its_token_from_the_issuer_with_its_own_client():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/oauth/token":
            return httpx.Response(200, json={"access_token": "issued", "token_type": "Bearer", "expires_in": 300})
        return httpx.Response(200, json={"keys": {}, "erased": json.loads(request.content)["kids"]})

    settings = ServiceSettings(service_name="referral", key_service_urls={"intake": "http://intake.test"},
                               token_url="http://intake.test/v1/oauth/token", service_client_id="referral-1",
                               service_client_secret=SecretStr("s3cr3t-value-for-the-test"))
    ring = KeyRing(settings, transport=httpx.MockTransport(answer))
    assert await ring.keys({"intake/case/a"}) == {"intake/case/a": None}
    await ring.keys({"intake/case/b"})
    token_calls = [r for r in seen if r.url.path == "/v1/oauth/token"]
    assert len(token_calls) == 1 and b"audience=intake" in token_calls[0].content  # cached, one audience
    assert all(r.headers["authorization"] == "Bearer issued" for r in seen if r.url.path == "/v1/data-keys")
    await ring.close()
