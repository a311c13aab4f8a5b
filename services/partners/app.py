"""Composition root: partners' settings, registry seed, runtime, event routers, webhook
delivery job and HTTP app."""

from pathlib import Path

from fastapi import FastAPI

from runtime.broker import ensure_topics
from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.partners.config import PartnersSettings
from services.partners.domain.model import load_registry, partner_topics
from services.partners.entrypoints import admin, events, http
from services.partners.service_layer import handlers
from services.partners.service_layer.webhooks import delivery_job


def build(settings: PartnersSettings | None = None) -> FastAPI:
    settings = settings or PartnersSettings()
    registry = load_registry(settings.registry_file)

    async def seed_registry(rt: ServiceRuntime) -> None:
        async with rt.unit_of_work() as uow:
            partner_ids = await handlers.seed_and_announce(registry, uow)
        await ensure_topics(settings, partner_topics(partner_ids))  # also those registered by the admin API

    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.ROUTERS,
                        topics=partner_topics([p.partner_id for p in registry.partners]),
                        on_start=[seed_registry], background=[delivery_job(settings)])
    return create_app(rt, "samenwijk partners", [http.router, admin.router])
