"""Referral's background jobs: the deadline timers and the rule-file watcher."""

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

from runtime.service import ServiceRuntime
from services.referral.config import ReferralSettings
from services.referral.service_layer import handlers

Job = Callable[[ServiceRuntime], Awaitable[None]]


def deadline_timers(ctx: handlers.Context, settings: ReferralSettings) -> Job:
    async def deadline_timers(rt: ServiceRuntime) -> None:
        while True:
            async with rt.unit_of_work() as uow:
                fired = await handlers.fire_due_timers(uow, ctx, settings.timer_batch_size)
            if fired:
                _crash_point_after_timer_commit()
            if fired < settings.timer_batch_size:
                await asyncio.sleep(settings.timer_poll_seconds)

    return deadline_timers


def rule_file_watch(ctx: handlers.Context, settings: ReferralSettings) -> Job:
    async def rule_file_watch(rt: ServiceRuntime) -> None:
        while True:
            await asyncio.sleep(settings.rules_poll_seconds)
            await asyncio.to_thread(ctx.rulebook.reload)

    return rule_file_watch


def _crash_point_after_timer_commit() -> None:
    """Fault injection for the crash test: SIGKILL this process right after a timer transaction
    committed (escalation in the outbox, not yet published). Unset outside tests."""
    if os.environ.get("SAMENWIJK_FAULT_KILL_AFTER_TIMER_COMMIT"):
        os.kill(os.getpid(), signal.SIGKILL)
