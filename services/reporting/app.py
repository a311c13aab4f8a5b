"""Composition root: reporting's settings, reference data, runtime, routers, HTTP app and
its background signal detection."""

import asyncio
from pathlib import Path

from fastapi import FastAPI

from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.reporting.config import ReportingSettings
from services.reporting.domain.disclosure import Disclosure
from services.reporting.domain.reference import load_reference
from services.reporting.entrypoints import dashboard, events, http
from services.reporting.service_layer import handlers
from services.reporting.service_layer.rebuild import Rebuild


def build(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    disclosure = Disclosure(settings.disclosure_key.get_secret_value().encode())
    projections = handlers.Projections(disclosure)
    routers = events.routers(projections)

    async def detect_signals(rt: ServiceRuntime) -> None:
        while True:
            await asyncio.sleep(settings.signal_interval_seconds)
            async with rt.unit_of_work() as uow:
                await handlers.detect_signals(uow, disclosure)

    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", routers, background=[detect_signals])
    app = create_app(rt, "samenwijk reporting", [http.router, dashboard.router])
    app.state.reference = load_reference(settings.reference_file)
    app.state.disclosure = disclosure
    app.state.rebuild = Rebuild(rt, routers)
    return app
