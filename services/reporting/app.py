"""Composition root: reporting's settings, runtime, event routers and HTTP app."""

from pathlib import Path

from fastapi import FastAPI

from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.reporting.config import ReportingSettings
from services.reporting.entrypoints import events, http


def build(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.ROUTERS)
    return create_app(rt, "samenwijk reporting", [http.router])
