"""runtime.health.ConsumerMonitor: lag from the broker's high watermarks and the group's
committed offsets, and a stall noticed (records waiting, no progress) — with stand-in
clients and a hand-moved clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

import runtime.health as health
from runtime.health import ConsumerMonitor
from runtime.settings import ServiceSettings

TOPIC = "samenwijk.cases"


@dataclass
class Broker:
    """High watermarks and committed offsets as the broker would answer them."""

    ends: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0})
    committed: dict[int, int] = field(default_factory=dict)

    async def list_topics(self) -> list[str]:
        return [TOPIC, "samenwijk.partner.x.responses"]

    async def list_consumer_group_offsets(self, group_id: str, partitions: list[TopicPartition]) -> dict[Any, Any]:
        return {TopicPartition(TOPIC, p): OffsetAndMetadata(o, "") for p, o in self.committed.items()}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.ends)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp.partition] for tp in tps}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in tps}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(health.time, "monotonic", c)
    return c


def monitor_for(broker: Broker, consumer: Any) -> ConsumerMonitor:
    rt = SimpleNamespace(settings=ServiceSettings(service_name="referral", consumer_stall_after_s=60),
                         consumer=consumer)
    m = ConsumerMonitor(rt)  # type: ignore[arg-type]

    async def clients() -> tuple[Broker, Broker]:
        return broker, broker

    m._clients = clients  # type: ignore[method-assign]
    return m


def consumer() -> SimpleNamespace:
    return SimpleNamespace(batches=0, paused=False, groups=lambda: [("referral", [TOPIC], None)])


async def test_lag_is_high_watermark_minus_the_groups_committed_offset(clock) -> None:
    broker, c = Broker(ends={0: 10, 1: 4}, committed={0: 7}), consumer()
    m = monitor_for(broker, c)
    await m.check()
    [group] = m.snapshot().groups
    assert group.lag == {(TOPIC, 0): 3, (TOPIC, 1): 4}  # no commit on 1 yet: from the log start
    assert m.report()["lag"] == 7 and m.report()["groups"] == {"referral": 7}


async def test_records_waiting_and_no_progress_is_a_stall_then_unready_then_not_alive(clock) -> None:
    broker, c = Broker(ends={0: 10, 1: 0}, committed={0: 5}), consumer()
    m = monitor_for(broker, c)
    await m.check()  # first look: counts as progress
    for _ in range(4):
        clock.now += 15
        await m.check()
    assert m.stalled_for() == 60 and not m.healthy() and m.alive()
    assert m.report()["stalled"] is True
    clock.now += 120
    await m.check()
    assert not m.alive()

    c.batches += 1  # it fetched again (e.g. after the runtime recreated it)
    broker.committed = {0: 10}
    await m.check()
    assert m.healthy() and m.stalled_for() == 0 and m.report()["lag"] == 0


async def test_an_idle_consumer_with_nothing_waiting_is_not_stalled(clock) -> None:
    broker, c = Broker(ends={0: 10, 1: 2}, committed={0: 10, 1: 2}), consumer()
    m = monitor_for(broker, c)
    for _ in range(10):
        await m.check()
        clock.now += 30
    assert m.healthy() and m.stalled_for() == 0


async def test_a_paused_consumer_is_not_stalled_and_moving_commits_are_progress(clock) -> None:
    broker, c = Broker(ends={0: 100, 1: 0}, committed={0: 1}), consumer()
    m = monitor_for(broker, c)
    c.paused = True
    for _ in range(5):
        await m.check()
        clock.now += 30
    assert m.healthy()
    c.paused = False
    for i in range(5):
        broker.committed = {0: 2 + i}  # commits move though the batch counter does not (another instance)
        await m.check()
        clock.now += 30
    assert m.healthy()


async def test_pattern_groups_watch_the_topics_their_pattern_matches(clock) -> None:
    broker = Broker(ends={0: 3, 1: 0})
    c = SimpleNamespace(batches=0, paused=False, groups=lambda: [("partners.pattern0", [], r"samenwijk\.partner\..*\.responses")])
    m = monitor_for(broker, c)
    await m.check()
    [group] = m.snapshot().groups
    assert {t for t, _ in group.lag} == {"samenwijk.partner.x.responses"}
