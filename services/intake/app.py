"""Composition root: intake's settings, runtime, event routers, HTTP app and retention job."""

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from runtime.auth import prepare_client_checks
from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.intake.config import IntakeSettings
from services.intake.domain import reference
from services.intake.entrypoints import auth, events, http
from services.intake.service_layer import clients, handlers

log = logging.getLogger(__name__)


async def retention(rt: ServiceRuntime) -> None:
    """Erase personal data of closed cases past the retention period, batch by batch."""
    settings: IntakeSettings = rt.settings  # type: ignore[assignment]
    while True:
        now = datetime.now(UTC)
        async with rt.unit_of_work() as uow:
            erased = await handlers.erase_expired_cases(uow, timedelta(days=settings.retention_days), now)
            lone = await handlers.erase_expired_observations(
                uow, timedelta(days=settings.observation_retention_days), now)
            await handlers.purge_idempotency_keys(uow, timedelta(hours=settings.idempotency_ttl_hours), now)
        if erased or lone:
            log.info("retention: erased the personal data of %d closed cases and %d lone observations",
                     len(erased), len(lone))
            continue  # there may be more past retention
        await asyncio.sleep(settings.retention_interval_seconds)


def build(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    reference.serve(reference.load(settings.buurten_file))
    async def prepare_token_endpoint(rt: ServiceRuntime) -> None:
        await asyncio.to_thread(prepare_client_checks)
        if settings.service_clients is not None:  # the services that fetch data keys
            async with rt.unit_of_work() as uow:
                await clients.keep_service_clients(
                    uow, json.loads(settings.service_clients.get_secret_value()), datetime.now(UTC))

    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.ROUTERS, background=[retention],
                        on_start=[prepare_token_endpoint])
    return create_app(rt, "samenwijk intake", [http.router, auth.router])
