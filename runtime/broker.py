"""Kafka wiring: the faststream broker and topic creation with our partition counts."""

import asyncio
import logging
import ssl
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


def security(settings: ServiceSettings) -> BaseSecurity | None:
    """SASL (and TLS) for a real cluster; None for the embedded broker."""
    mechanism = settings.kafka_sasl_mechanism
    # aiokafka needs an explicit context for TLS; the default one trusts the system CAs
    # (and SSL_CERT_FILE, e.g. a cluster CA mounted into the pod).
    context = ssl.create_default_context() if settings.kafka_use_tls else None
    if mechanism is None:
        return BaseSecurity(ssl_context=context, use_ssl=True) if settings.kafka_use_tls else None
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[mechanism]
    return kind(settings.kafka_sasl_username or "", password, ssl_context=context, use_ssl=settings.kafka_use_tls)


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id=settings.service_name,
        # also how soon a pattern subscription (partners' responses topics) sees a new topic
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
        security=security(settings),
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


async def ensure_topics(settings: ServiceSettings, names: list[str]) -> None:
    """Create topics with the configured partitions (faststream would make ONE)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id=settings.service_name,
                                **parse_security(security(settings)))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        result = await admin.create_topics(
            [NewTopic(n, settings.kafka_topic_partitions, settings.kafka_replication_factor) for n in missing]
        )
        for topic, code, *_ in getattr(result, "topic_errors", []):
            if code not in (0, TopicAlreadyExistsError.errno):
                log.warning("could not create topic %s: error %s", topic, code)
        await _wait_for_leaders(admin, missing)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30) -> None:
    """Apache Kafka answers CreateTopics before every partition has a leader: a consumer
    that subscribes at once meets NotLeaderForPartition, and a pattern subscription can
    miss the topic until its next metadata refresh. Wait until the metadata shows leaders."""
    deadline = time.monotonic() + timeout_s
    while True:
        topics = await admin.describe_topics(names)
        pending = [t["topic"] for t in topics
                   if t["error_code"] != 0 or not t["partitions"]
                   or any(p["error_code"] != 0 or p["leader"] < 0 for p in t["partitions"])]
        if not pending:
            return
        if time.monotonic() > deadline:
            log.warning("topics still without leaders after %.0f s: %s", timeout_s, ", ".join(pending))
            return
        await asyncio.sleep(0.2)
