"""Service settings from the environment (pydantic-settings), prefix SAMENWIJK_."""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMENWIJK_", extra="ignore")

    service_name: str = "service"
    # URN in the spirit of the NL GOV CloudEvents profile: which system produced an event.
    organisation_urn: str = "urn:nld:samenwijk"

    database_url: str = "postgresql://samenwijk@127.0.0.1:5432/samenwijk"
    database_pool_size: int = 10

    # host:port[,host:port…]
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Follows the broker (samenwijk_dev sets it): on for Apache Kafka (with acks=all),
    # off only for Tansu, which rejects idempotent producers.
    kafka_enable_idempotence: bool = True
    kafka_session_timeout_ms: int = 10_000
    # A pattern subscription (partners' responses topics) matches new topics only when
    # metadata is refreshed: aiokafka's 5-minute default made a new partner wait that long.
    kafka_metadata_max_age_ms: int = 30_000
    kafka_heartbeat_interval_ms: int = 3_000
    # Apache Kafka answers a waiting fetch as soon as data arrives; Tansu only when this
    # wait ends, so there every hop costs about half of it (samenwijk_dev sets 10 for Tansu).
    kafka_fetch_max_wait_ms: int = 500
    # A real cluster: SASL/SCRAM-SHA-512 per service user (see deploy/), optionally over TLS.
    kafka_sasl_mechanism: str | None = Field(default=None, pattern="^(SCRAM-SHA-512|SCRAM-SHA-256|PLAIN)$")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_use_tls: bool = False
    kafka_topic_partitions: int = 6
    kafka_replication_factor: int = 1
    consumer_max_records: int = 500
    # After a failed batch, each record is tried alone this many times before it is
    # dead-lettered (so a record that keeps failing runs once more, in its batch).
    consumer_max_attempts: int = Field(default=3, description="single-record attempts before a dead letter")

    # An event that came before its case/referral waits (parked) at most this long, then
    # goes to the dead-letter topic with the reason; the sweeper retries every so often.
    consumer_park_max_age_s: float = 3600.0
    consumer_park_retry_s: float = 5.0
    # Lag from the broker (high watermark − the group's committed offset), checked this often;
    # records waiting and no progress for consumer_stall_after_s: stalled (runtime.health).
    consumer_health_interval_s: float = 5.0
    consumer_stall_after_s: float = 60.0

    outbox_batch_size: int = 500
    # A broker that lost its state is noticed within this (runtime.recovery).
    broker_check_interval_s: float = 5.0
    # Retention (runtime.retention): published outbox rows stay this long (a lost broker is
    # refilled with them), then go to outbox_archive for outbox_archive_days; inbox ids are
    # kept inbox_retention_days, which must cover the outbox window and the topics' retention.
    outbox_retention_days: float = 30.0
    outbox_archive_days: float = 395.0
    inbox_retention_days: float = 45.0
    retention_interval_s: float = 3600.0

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_max_body_bytes: int = 64 * 1024

    jwt_secret: SecretStr = SecretStr("dev-only-secret-change-me-0123456789abcdef")
    jwt_issuer: str = "samenwijk-dev"

    otel_exporter_otlp_endpoint: str | None = None
    trace_file: str | None = None
    trace_sql: bool = Field(default=True, description="a span per asyncpg query")
    log_level: str = "INFO"

    @property
    def kafka_bootstrap_servers(self) -> list[str]:
        """The list form: faststream hands a comma-separated string to aiokafka as ONE host."""
        return [h.strip() for h in self.kafka_bootstrap.split(",") if h.strip()]

    @model_validator(mode="after")
    def _inbox_outlives_the_outbox(self) -> "ServiceSettings":
        # An event refilled from an outbox must still be known to the inbox, or it acts twice.
        if self.inbox_retention_days < self.outbox_retention_days:
            raise ValueError("inbox_retention_days must be at least outbox_retention_days")
        return self

    @property
    def source(self) -> str:
        return f"{self.organisation_urn}:{self.service_name}"
