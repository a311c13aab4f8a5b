"""Composition root: referral's settings, rules, runtime, event routers, jobs and HTTP app."""

from pathlib import Path

from fastapi import FastAPI

from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.referral.config import ReferralSettings
from services.referral.entrypoints import events, http, jobs
from services.referral.service_layer.handlers import Context
from services.referral.service_layer.rulebook import Rulebook


def build(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()
    ctx = Context(Rulebook(settings.rules_dir))
    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.routers(ctx),
                        background=[jobs.deadline_timers(ctx, settings), jobs.rule_file_watch(ctx, settings)])
    app = create_app(rt, "samenwijk referral", [http.router])
    app.state.referral = ctx
    return app
