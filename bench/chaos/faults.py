"""The fault schedule and its injection. Each fault records when it hit and when it was
repaired (the process back and ready); the monitor measures the recovery from that."""

import asyncio
import signal
import time
from dataclasses import dataclass, field

from contracts.topics import Topics
from samenwijk_dev.stack import SERVICES, Stack

COMMON_FIRST = [f"kill:{s}" for s in SERVICES] + [f"group:{s}" for s in SERVICES] + ["pg:restart"]
COMMON_LAST = [f"kill:{s}" for s in SERVICES]
SCHEDULES = {
    "none": [],
    "quick": ["kill:referral", "pg:restart"],
    "full-kafka": [*COMMON_FIRST, "kafka:kill-leader", "kafka:kill-controller", "kafka:pause", *COMMON_LAST],
    "full-tansu": [*COMMON_FIRST, *COMMON_LAST, "tansu:loss"],
}


def schedule(name: str, broker: str) -> list[str]:
    if name == "full":
        name = f"full-{broker}"
    if name in SCHEDULES:
        return list(SCHEDULES[name])
    faults = [f.strip() for f in name.split(",") if f.strip()]
    for f in faults:
        kind = f.split(":")[0]
        if kind not in ("kill", "group", "pg", "kafka", "tansu") or (kind in ("kafka", "tansu") and kind != broker):
            raise SystemExit(f"unknown fault {f!r} for broker {broker} (see docs/chaos.md)")
    return faults


@dataclass
class Fault:
    name: str
    hit: float = 0.0  # monotonic
    repaired: float | None = None
    detail: str = ""
    progress_s: float | None = None
    progress_stage: str = ""  # the stage that moved on last
    catch_up_s: float | None = None
    catch_up_stage: str = ""  # the stage that caught up last
    notes: list[str] = field(default_factory=list)


class Injector:
    def __init__(self, stack: Stack, restart_after: float = 1.0, pause_s: float = 15.0) -> None:
        self.stack = stack
        self.restart_after = restart_after
        self.pause_s = pause_s  # past the brokers' 9 s session timeout (broker.session.timeout.ms)

    async def inject(self, name: str) -> Fault:
        fault = Fault(name)
        kind, _, what = name.partition(":")
        handler = {"kill": self._kill, "group": self._group, "pg": self._pg,
                   "kafka": self._kafka, "tansu": self._tansu_loss}[kind]
        try:
            await handler(fault, what)
        except Exception as exc:  # noqa: BLE001 - a slow repair is a finding, not the end of the run
            fault.notes.append(f"repair failed: {exc!r}")
            fault.hit = fault.hit or time.monotonic()
        fault.repaired = time.monotonic()
        return fault

    async def _ready(self, svc) -> None:
        await asyncio.to_thread(svc.wait_ready, 300)

    async def _kill(self, fault: Fault, name: str) -> None:
        svc = self.stack.services[name]
        fault.hit = time.monotonic()
        svc.kill()
        await asyncio.sleep(self.restart_after)
        svc.start(wait=False)
        await self._ready(svc)

    async def _group(self, fault: Fault, name: str) -> None:
        """A second instance joins the group; then the first is SIGKILLed and its
        partitions move to the second; the first comes back, and the second leaves."""
        svc = self.stack.services[name]
        extra = self.stack.add_instance(name)
        extra.start(wait=False)
        await self._ready(extra)
        await asyncio.sleep(6)  # the group rebalances over both
        fault.hit = time.monotonic()
        svc.kill()
        await asyncio.sleep(self.restart_after)
        svc.start(wait=False)
        await self._ready(svc)
        await asyncio.sleep(3)
        await asyncio.to_thread(self.stack.remove_instance, extra)

    async def _pg(self, fault: Fault, _: str) -> None:
        fault.hit = time.monotonic()
        await asyncio.to_thread(self.stack.postgres.stop)
        await asyncio.sleep(self.restart_after)
        await asyncio.to_thread(self.stack.postgres.start)

    async def _kafka(self, fault: Fault, what: str) -> None:
        cluster = self.stack.broker
        if what == "kill-controller":
            node_id = cluster.active_controller()
        else:
            topic = Topics.REFERRALS if what == "pause" else Topics.CASES
            node_id = await cluster.partition_leaders(topic)
            node_id = node_id.get(0)
        if node_id is None:
            raise RuntimeError(f"{fault.name}: could not find the node to hit")
        node = cluster.node(node_id)
        fault.detail = f"node {node_id}"
        fault.hit = time.monotonic()
        if what == "pause":
            node.pause()
            await asyncio.sleep(self.pause_s)
            node.resume()
            return
        node.kill()
        await asyncio.sleep(self.restart_after)
        node.restart(wait=False)
        deadline = time.monotonic() + 600  # a JVM on a loaded box can take minutes
        while not node.ready():
            if time.monotonic() > deadline or not node.alive:
                raise RuntimeError(f"kafka node {node_id} did not come back; see {node.log_path}")
            await asyncio.sleep(0.5)

    async def _tansu_loss(self, fault: Fault, _: str) -> None:
        """The broker's process dies and comes back empty (memory storage), same port."""
        broker = self.stack.broker
        fault.hit = time.monotonic()
        if broker.proc is not None:
            broker.proc.send_signal(signal.SIGKILL)
            broker.proc.wait()
            broker.proc = None
        await asyncio.sleep(self.restart_after)
        await asyncio.to_thread(broker.start)
