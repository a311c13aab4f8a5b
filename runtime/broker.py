"""Kafka wiring: the faststream broker and topic creation with our partition counts."""

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

from runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id=settings.service_name,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


async def ensure_topics(settings: ServiceSettings, names: list[str]) -> None:
    """Create topics with the configured partitions (faststream would make ONE)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=settings.service_name)
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
    finally:
        await admin.close()
