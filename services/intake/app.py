"""Composition root: intake's settings, runtime, event routers and HTTP app."""

from pathlib import Path

from fastapi import FastAPI

from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.intake.config import IntakeSettings
from services.intake.entrypoints import events, http


def build(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.ROUTERS)
    return create_app(rt, "samenwijk intake", [http.router])
