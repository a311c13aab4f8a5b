"""Webhook delivery: a supervised background job works through the durable delivery table.

At-least-once: a delivery row is locked while it is tried and only marked delivered after
the receiver said 2xx; a crash in between sends it again with the same delivery id, which
the receiver dedupes on. Each attempt checks the partner's *current* agreement first.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from cryptography.fernet import InvalidToken
from opentelemetry.instrumentation.utils import suppress_instrumentation

from runtime import metrics
from runtime.service import ServiceRuntime
from runtime.unit_of_work import AccessRecord, UnitOfWork
from services.partners.adapters import repository
from services.partners.adapters.secrets import SecretBox
from services.partners.adapters.webhook_http import failure_class, guarded_client, status_class
from services.partners.config import PartnersSettings
from services.partners.domain.model import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetrySchedule,
    sign,
)
from services.partners.domain.webhook_target import RefusedTarget

log = logging.getLogger(__name__)


def signed_headers(secret: bytes, delivery_id: UUID, body: bytes, timestamp: int) -> dict[str, str]:
    return {"Content-Type": "application/cloudevents+json", DELIVERY_HEADER: str(delivery_id),
            TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


async def _attempt(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes) -> str | None:
    """None when the receiver took it, else the class of what went wrong (never the body, the
    secret, or what answered: a refused address, TLS, timeout, connection, HTTP status class)."""
    try:
        response = await client.post(url, content=body, headers=headers)
    except (httpx.HTTPError, RefusedTarget) as exc:
        return failure_class(exc)
    return None if response.is_success else status_class(response.status_code)


async def deliver_one(uow: UnitOfWork, client: httpx.AsyncClient, box: SecretBox, schedule: RetrySchedule) -> bool:
    """Try the most overdue delivery; False when none is due. `schedule` unless the
    subscription has its own."""
    row = await repository.claim_due_delivery(uow.conn, datetime.now(UTC))
    if row is None:
        return False
    now = datetime.now(UTC)
    partner_id, attempts = row["partner_id"], row["attempts"] + 1
    if row["purpose"] and await repository.current_agreement(uow.conn, partner_id, row["purpose"], now.date()) is None:
        reason = f"no valid agreement for {row['purpose']} at delivery"
        await repository.finish_delivery(uow.conn, row["delivery_id"], "held", row["attempts"], reason, now)
        await repository.hold_referral(uow.conn, row["referral_id"], reason, now)
        return True
    if row["url"] is None:
        error = "the partner has no webhook subscription any more"
    else:
        try:
            secret = box.open(row["secret_encrypted"])
        except InvalidToken:  # the key changed: fail visibly, never crash the job on this row
            secret = None
        if secret is None:
            error = "the webhook secret cannot be decrypted (SAMENWIJK_WEBHOOK_SECRET_KEY changed?)"
        else:
            body = row["body"]
            error = await _attempt(client, row["url"], signed_headers(secret, row["delivery_id"], body,
                                                                      int(time.time())), body)
    now = datetime.now(UTC)  # after the call: the next wait counts from its end
    if error is None:
        await repository.finish_delivery(uow.conn, row["delivery_id"], "delivered", attempts, None, now)
        if row["referral_id"] and row["purpose"]:
            uow.log_access(AccessRecord(
                action="referral.deliver.webhook", outcome="allowed", organisation_id=partner_id,
                case_id=row["case_id"], referral_id=row["referral_id"], purpose=row["purpose"],
                legal_basis=row["legal_basis"]))
        return True
    metrics.WEBHOOK_FAILURES.labels(partner_id).inc()
    if row["retry_initial_seconds"] is not None:  # the partner's own schedule
        schedule = RetrySchedule(row["retry_initial_seconds"], row["retry_max_seconds"], row["retry_give_up_seconds"])
    retry_at = schedule.next_attempt(attempts, row["window_start"], now) if row["url"] else None
    if retry_at is None:
        await repository.finish_delivery(uow.conn, row["delivery_id"], "dead", attempts, error, now)
        metrics.WEBHOOK_DEAD_LETTERS.labels(partner_id).inc()
        log.warning("webhook delivery %s to %s given up after %d attempts: %s",
                    row["delivery_id"], partner_id, attempts, error)
    else:
        await repository.retry_delivery(uow.conn, row["delivery_id"], attempts, error, retry_at)
    return True


def delivery_job(settings: PartnersSettings) -> Callable[[ServiceRuntime], Awaitable[Any]]:
    box = SecretBox(settings.webhook_secret_key)
    schedule = RetrySchedule(settings.webhook_backoff_initial_seconds, settings.webhook_backoff_max_seconds,
                             settings.webhook_give_up_after_seconds)

    async def deliver_webhooks(rt: ServiceRuntime) -> None:
        # Connects only to addresses checked after resolution (webhook_http): no SSRF, no rebinding.
        async with guarded_client(settings.webhook_timeout_seconds, settings.dev_mode) as client:
            while True:
                # Polling is not part of any case's trace (as with the outbox relay).
                with suppress_instrumentation():
                    async with rt.unit_of_work() as uow:
                        worked = await deliver_one(uow, client, box, schedule)
                if not worked:
                    await asyncio.sleep(settings.webhook_poll_seconds)

    return deliver_webhooks
