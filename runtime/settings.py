"""Service settings from the environment (pydantic-settings), prefix SAMENWIJK_."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMENWIJK_", extra="ignore")

    service_name: str = "service"
    # URN in the spirit of the NL GOV CloudEvents profile: which system produced an event.
    organisation_urn: str = "urn:nld:samenwijk"

    database_url: str = "postgresql://samenwijk@127.0.0.1:5432/samenwijk"
    database_pool_size: int = 10

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Tansu (embedded) rejects idempotent producers; Apache Kafka should run with it on.
    kafka_enable_idempotence: bool = False
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    # Tansu answers a fetch only when this wait ends (no early wake-up), so every hop
    # costs about half of it: keep it small there; Apache Kafka can use 500.
    kafka_fetch_max_wait_ms: int = 10
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

    outbox_batch_size: int = 500

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
    def source(self) -> str:
        return f"{self.organisation_urn}:{self.service_name}"
