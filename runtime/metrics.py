"""Prometheus metrics of a service: consumer lag, outbox backlog, dead letters, HTTP latency,
and the domain counters (deadline breaches, webhook failures) services increment.

Gauges that need the database (backlog, parked events) are read at scrape time, so /metrics
always shows the present; the consumer lag comes from the health monitor's last look at the
broker (runtime.health, every few seconds), never from the consumer's own idea of itself.
"""

import time
from typing import TYPE_CHECKING

from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from runtime.service import ServiceRuntime

REGISTRY = CollectorRegistry(auto_describe=True)

CONSUMER_LAG = Gauge("samenwijk_consumer_lag",
                     "Records on the partition the group has not committed yet (broker high watermark - committed"
                     " offset; checked every SAMENWIJK_CONSUMER_HEALTH_INTERVAL_S)",
                     ["group", "topic", "partition"], registry=REGISTRY)
CONSUMER_STALLED = Gauge("samenwijk_consumer_stalled_seconds",
                         "How long records have waited on the broker while the consumer made no progress",
                         registry=REGISTRY)
CONSUMER_RESTARTS = Counter("samenwijk_consumer_restarts", "Kafka consumers recreated (a stall, or a broker that"
                            " lost its topics)", registry=REGISTRY)
BROKER_RECOVERIES = Counter("samenwijk_broker_recoveries", "Times this instance found the broker had lost its"
                            " state (a new broker epoch) and recovered", registry=REGISTRY)
OUTBOX_REFILLED = Counter("samenwijk_outbox_refilled", "Outbox rows put back for publishing after a broker loss",
                          registry=REGISTRY)
RETENTION_REMOVED = Counter("samenwijk_retention_removed", "Rows moved or removed by the retention job", ["table"],
                            registry=REGISTRY)
CONSUMER_HEALTH_ERROR = Gauge("samenwijk_consumer_health_check_failing",
                              "1 while the broker cannot be asked for offsets", registry=REGISTRY)
CONSUMER_PAUSED = Gauge("samenwijk_consumer_paused", "1 while an operator has paused consumption",
                        registry=REGISTRY)
OUTBOX_BACKLOG = Gauge("samenwijk_outbox_backlog", "Outbox rows not yet published", registry=REGISTRY)
OUTBOX_OLDEST_AGE = Gauge("samenwijk_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row",
                          registry=REGISTRY)
OUTBOX_PUBLISHED = Counter("samenwijk_outbox_published", "Outbox rows published", registry=REGISTRY)
EVENTS_HANDLED = Counter("samenwijk_events_handled", "Events handled (committed)", ["type"], registry=REGISTRY)
DEAD_LETTERS = Counter("samenwijk_dead_letters", "Records sent to the dead-letter topic", ["topic"],
                       registry=REGISTRY)
EVENTS_PARKED = Counter("samenwijk_events_parked", "Events parked because their case/referral was not known yet",
                        ["type"], registry=REGISTRY)
PARKED_APPLIED = Counter("samenwijk_parked_applied", "Parked events applied once their entity arrived", ["type"],
                         registry=REGISTRY)
PARKED = Gauge("samenwijk_parked_events", "Events parked now, waiting for their case/referral", registry=REGISTRY)
PARKED_OLDEST_AGE = Gauge("samenwijk_parked_oldest_age_seconds", "How long the oldest parked event has waited",
                          registry=REGISTRY)
DEADLINE_BREACHES = Counter("samenwijk_deadline_breaches", "Referral deadlines that passed without action",
                            ["deadline"], registry=REGISTRY)
WEBHOOK_FAILURES = Counter("samenwijk_webhook_failures", "Failed webhook delivery attempts", ["partner"],
                           registry=REGISTRY)
WEBHOOK_DEAD_LETTERS = Counter("samenwijk_webhook_dead_letters", "Webhook deliveries given up after retries",
                               ["partner"], registry=REGISTRY)
HTTP_LATENCY = Histogram("samenwijk_http_request_duration_seconds", "HTTP request duration",
                         ["method", "route", "status"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


async def render(rt: "ServiceRuntime") -> tuple[bytes, str]:
    """Refresh the scrape-time gauges, then the exposition text."""
    CONSUMER_LAG.clear()
    snapshot = rt.monitor.snapshot()
    for group in snapshot.groups:
        for (topic, partition), lag in group.lag.items():
            CONSUMER_LAG.labels(group.group_id, topic, str(partition)).set(lag)
    CONSUMER_STALLED.set(rt.monitor.stalled_for())
    CONSUMER_HEALTH_ERROR.set(1 if snapshot.error else 0)
    CONSUMER_PAUSED.set(1 if rt.consumer.paused else 0)
    with suppress_instrumentation():  # scrapes are not part of any case's trace
        row = await rt.pool.fetchrow(
            "SELECT count(*) AS backlog, extract(epoch FROM now() - min(created_at)) AS age"
            " FROM outbox WHERE published_at IS NULL")
        parked = await rt.pool.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM now() - min(parked_at)) AS age FROM parked_event")
    OUTBOX_BACKLOG.set(row["backlog"])
    OUTBOX_OLDEST_AGE.set(float(row["age"] or 0))
    PARKED.set(parked["n"])
    PARKED_OLDEST_AGE.set(float(parked["age"] or 0))
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class HttpLatency:
    """Request duration by route template (never the raw path: ids are not labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_LATENCY.labels(scope["method"], route, str(status)).observe(time.perf_counter() - start)
