"""No event is dropped for arriving early: the consumer parks an event whose case is not known
yet (without claiming it in the inbox) and applies it once the case arrives, in the producer's
order. Here with referral's real handlers (tables faked as in test_referral_handlers) and the
in-memory pool: one case's events delivered in every order, one batch at a time and all in
one batch, end in the same referrals and exactly one repeat-threshold escalation."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from contracts.envelope import envelope_for
from contracts.events import (
    CaseClosed,
    CaseErased,
    ComplaintReceived,
    EscalationRaised,
    Event,
    ReferralAccepted,
    ReferralRequested,
    ReferralWithdrawn,
)
from contracts.topics import Topics
from runtime.consumer import Consumer, NotYetKnown, Routes
from contracts.personal import Sealed
from runtime.sealing import KeyStore, key_encryption_key, open_data
from runtime.settings import ServiceSettings
from services.referral.entrypoints.events import routers
from services.referral.service_layer import handlers
from tests.unit.fakes import FakePool
from tests.unit.test_consumer_batch import Log
from tests.unit.test_referral_handlers import (  # noqa: F401  (fixtures)
    REPEAT_RULE,
    RULES_DIR,
    Clock,
    Rulebook,
    Store,
    clock,
    nuisance,
    store,
)

SOURCE = "urn:nld:samenwijk:intake"
T0 = datetime(2026, 4, 23, 8, 0, tzinfo=UTC)


def record(log: Log, event: Event, at: datetime) -> Any:
    """The record intake's relay would send: the CloudEvents time is when intake wrote it."""
    envelope = envelope_for(event, SOURCE)
    envelope.time = at
    return log.record(envelope.model_dump_json(exclude_none=True).encode(), key=event.subject().encode())


KEK = SecretStr("unit-test-kek-0123456789abcdef0123456789")


def published(pool: FakePool, kind: type[Event]) -> list[dict[str, Any]]:
    """The data of what referral published, its sealed fields opened with its own data keys."""
    out = []
    for row in pool.outbox:
        envelope = json.loads(row.value)
        if envelope["type"] == kind.type_name():
            data = dict(envelope["data"])
            if sealed := data.pop("sealed", None):
                key = key_encryption_key(KEK).decrypt(pool.tables.data_keys[sealed["kid"]][1])
                data |= open_data(Sealed.model_validate(sealed), key, event_type=envelope["type"],
                                  subject=envelope["subject"])
            out.append(data)
    return out


@pytest.fixture
def ctx(clock: Clock, tmp_path) -> handlers.Context:  # noqa: F811
    # The shipped rules plus a min_repeat: 2 route, so the second complaint refers too.
    shipped = (RULES_DIR / "GM0363-amsterdam.yaml").read_text()
    (tmp_path / "GM0363.yaml").write_text(shipped.replace("\nladders:", REPEAT_RULE + "\nladders:", 1))
    return handlers.Context(Rulebook(tmp_path), clock)


def case_story(clock: Clock) -> list[tuple[Event, datetime]]:
    """case.opened, then complaints 1, 2 and 3 about the same address, as intake publishes them."""
    opened = nuisance(clock.now)
    complaints = [ComplaintReceived(case_id=opened.case_id, complaint_id=uuid.uuid4(), corporation_id="corp",
                                    category="overlast.stank", buurt_code=opened.buurt_code, repeat_count=n,
                                    received_at=T0 + timedelta(minutes=n)) for n in (1, 2, 3)]
    return [(opened, T0), *((c, T0 + timedelta(minutes=c.repeat_count)) for c in complaints)]


def new_consumer(pool: FakePool) -> Consumer:
    return Consumer(ServiceSettings(service_name="referral"), lambda: pool, KeyStore("referral", KEK))


def expected_outcome(pool: FakePool, case_id: uuid.UUID) -> None:
    referrals = published(pool, ReferralRequested)
    assert sorted(r["partner_id"] for r in referrals) == ["bb-noord", "wijkteam-noord"]
    repeats = [e for e in published(pool, EscalationRaised) if e["reason"].startswith("repeat threshold")]
    assert len(repeats) == 1 and repeats[0]["case_id"] == str(case_id)
    assert pool.parked == []


ORDERS = list(itertools.permutations(range(4)))


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(map(str, o)) for o in ORDERS])
async def test_every_order_one_record_per_batch_ends_the_same(store, ctx, clock, order) -> None:  # noqa: F811
    story = case_story(clock)
    pool, log = FakePool(), Log(Topics.CASES)
    consumer, [cases, _] = new_consumer(pool), routers(ctx)
    records = [record(log, event, at) for event, at in story]
    for i in order:
        await consumer.process(Routes([cases]), (records[i],))
    expected_outcome(pool, story[0][0].case_id)
    assert set(pool.inbox) == {json.loads(r.value)["id"] for r in records}  # every one handled, none twice


@pytest.mark.parametrize("order", ORDERS[::5], ids=["-".join(map(str, o)) for o in ORDERS[::5]])
async def test_every_order_in_one_batch_ends_the_same(store, ctx, clock, order) -> None:  # noqa: F811
    story = case_story(clock)
    pool, log = FakePool(), Log(Topics.CASES)
    consumer, [cases, _] = new_consumer(pool), routers(ctx)
    records = [record(log, event, at) for event, at in story]
    await consumer.process(Routes([cases]), tuple(records[i] for i in order))
    expected_outcome(pool, story[0][0].case_id)


async def test_an_early_event_is_parked_not_claimed_and_redelivery_does_not_double_it(store, ctx, clock) -> None:  # noqa: F811
    opened, *complaints = [(e, at) for e, at in case_story(clock)]
    pool, log = FakePool(), Log(Topics.CASES)
    consumer, [cases, _] = new_consumer(pool), routers(ctx)
    third = record(log, *complaints[2])
    await consumer.process(Routes([cases]), (third,))
    await consumer.process(Routes([cases]), (third,))  # the broker delivers it again

    event_id = json.loads(third.value)["id"]
    assert event_id not in pool.inbox
    [parked] = pool.parked
    assert (parked["event_id"], parked["park_key"]) == (event_id, f"case:{opened[0].case_id}")
    assert (parked["topic"], parked["offset"]) == (third.topic, third.offset)
    assert published(pool, EscalationRaised) == []

    await consumer.process(Routes([cases]), tuple(record(log, *e) for e in (opened, complaints[0], complaints[1])))
    expected_outcome(pool, opened[0].case_id)
    assert event_id in pool.inbox
    await consumer.process(Routes([cases]), (third,))  # and once more after it was applied
    assert len([e for e in published(pool, EscalationRaised) if e["reason"].startswith("repeat")]) == 1


async def test_a_close_that_came_first_withdraws_the_referral_once_the_case_arrives(store, ctx, clock) -> None:  # noqa: F811
    opened, at = case_story(clock)[0]
    pool, log = FakePool(), Log(Topics.CASES)
    consumer, [cases, _] = new_consumer(pool), routers(ctx)
    closed = CaseClosed(case_id=opened.case_id, corporation_id="corp", outcome="opgelost", closed_at=at)
    await consumer.process(Routes([cases]), (record(log, closed, at + timedelta(hours=1)),))
    assert len(pool.parked) == 1 and store.cases == {}
    await consumer.process(Routes([cases]), (record(log, opened, at),))

    [referral] = published(pool, ReferralRequested)
    [withdrawn] = published(pool, ReferralWithdrawn)
    assert withdrawn["referral_id"] == referral["referral_id"]
    assert store.cases[opened.case_id]["status"] == "closed" and pool.parked == []


async def test_an_erasure_before_the_case_routes_nothing_when_the_case_comes(store, ctx, clock) -> None:  # noqa: F811
    opened, at = case_story(clock)[0]
    pool, log = FakePool(), Log(Topics.CASES)
    consumer, [cases, _] = new_consumer(pool), routers(ctx)
    await consumer.process(Routes([cases]), (record(log, CaseErased(case_id=opened.case_id, erased_at=at), at),))
    await consumer.process(Routes([cases]), (record(log, opened, at),))
    assert published(pool, ReferralRequested) == [] and pool.parked == []
    assert pool.dead_letters == [] and len(pool.inbox) == 2


async def test_an_answer_for_an_unknown_referral_waits_then_is_dead_lettered_with_its_reason(
        store, ctx, clock) -> None:  # noqa: F811
    pool, log = FakePool(), Log(Topics.PARTNERS)
    consumer, [_, partners] = new_consumer(pool), routers(ctx)
    referral_id = uuid.uuid4()
    accepted = ReferralAccepted(referral_id=referral_id, case_id=uuid.uuid4(), partner_id="bb-noord",
                                accepted_at=T0)
    rec = record(log, accepted, T0)
    await consumer.process(Routes([partners]), (rec,))
    assert await consumer.sweep_parked() == (0, 1, 0)  # still waiting: kept
    assert len(pool.parked) == 1 and pool.dead_letters == []

    pool.now += timedelta(seconds=ServiceSettings().consumer_park_max_age_s + 1)
    assert await consumer.sweep_parked() == (0, 0, 1)
    [dead] = pool.dead_letters
    assert (dead.topic, dead.offset) == (rec.topic, rec.offset)
    assert "parked" in dead.reason and f"referral:{referral_id}" in dead.reason
    assert pool.parked == []
    assert [r.topic for r in pool.outbox] == [Topics.DEAD_LETTER]


async def test_the_sweeper_applies_an_event_whose_entity_came_another_way(store, ctx, clock) -> None:  # noqa: F811
    """An entity known without a now_known() call (e.g. written by an HTTP request): the
    periodic sweep finds it."""
    opened, _ = case_story(clock)[0]
    complaint, c_at = case_story(clock)[3]
    complaint = complaint.model_copy(update={"case_id": opened.case_id})
    pool, log = FakePool(), Log(Topics.CASES)
    consumer, [cases, _] = new_consumer(pool), routers(ctx)
    await consumer.process(Routes([cases]), (record(log, complaint, c_at),))
    await store_case_directly(store, opened)
    assert await consumer.sweep_parked() == (1, 0, 0)
    assert pool.parked == [] and len(published(pool, EscalationRaised)) == 1


async def store_case_directly(store: Store, opened: Any) -> None:  # noqa: F811
    from services.referral.adapters import repository
    await repository.add_case(None, opened, "GM0363", T0)


def test_not_yet_known_names_what_it_waits_for() -> None:
    case_id = uuid.uuid4()
    exc = NotYetKnown("case", case_id)
    assert exc.key == f"case:{case_id}" and str(case_id) in str(exc)
