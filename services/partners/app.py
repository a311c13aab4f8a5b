"""Composition root: partners' settings, registry, runtime, event routers and HTTP app."""

from pathlib import Path

from fastapi import FastAPI

from contracts.topics import Topics
from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.partners.config import PartnersSettings
from services.partners.domain.model import load_registry
from services.partners.entrypoints import events, http
from services.partners.service_layer import handlers


def build(settings: PartnersSettings | None = None) -> FastAPI:
    settings = settings or PartnersSettings()
    registry = load_registry(settings.registry_file)
    # Each partner has its own inbox and responses topic (a real cluster restricts them by ACL).
    topics = [t for p in registry.partners
              for t in (Topics.partner_inbox(p.partner_id), Topics.partner_responses(p.partner_id))]

    async def announce_registry(rt: ServiceRuntime) -> None:
        async with rt.unit_of_work() as uow:
            await handlers.publish_registry(registry, uow)

    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.ROUTERS,
                        topics=topics, on_start=[announce_registry])
    return create_app(rt, "samenwijk partners", [http.router])
