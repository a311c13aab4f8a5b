"""Service settings from the environment (pydantic-settings), prefix SAMENWIJK_.

Outside dev mode (`SAMENWIJK_DEV_MODE=true`, set only by the embedded stack, tests and
benchmarks) a service refuses to start with a default, example or short secret:
`startup_problems()` names each such setting, and `runtime.main.serve` exits on them.
"""

import re
import typing
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.ratelimit import valid_spec

MIN_SECRET_LENGTH = 32
MIN_DATABASE_PASSWORD_LENGTH = 16
# What shipped defaults and examples look like; a random secret never contains these.
_PLACEHOLDER = re.compile(r"change-?me|dev-only|example|default|placeholder|secret|password|samenwijk", re.I)


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
    # Made by the cluster's user operator (Strimzi: 12 characters), so a shorter minimum.
    kafka_sasl_password: SecretStr | None = Field(default=None, json_schema_extra={
        "optional_secret": True, "min_secret_length": 12})
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

    # Dev mode: the embedded stack. Allows generated/default secrets and loopback webhooks.
    dev_mode: bool = False
    # Tokens: the issuer's public keys as a JWKS document (JSON); no service but the issuer
    # (intake) holds a signing key. Each service accepts only tokens whose `aud` names it.
    jwt_jwks: str | None = Field(default=None, description="JWKS (JSON) of the token issuer's public keys")
    jwt_issuer: str = "samenwijk"
    jwt_max_lifetime_seconds: int = Field(default=3600, ge=60, le=7 * 86400,
                                          description="a token living longer (exp - iat) is refused")
    # Each organisation's API use, per service process (runtime/ratelimit.py).
    organisation_rate_limit: str = Field(default="50/second;1200/minute", description="limits syntax")

    # /metrics is served only on this listener (loopback unless set): not on the API port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, description="default: the HTTP port + 1000")

    # Crypto-shredding (runtime/sealing.py, runtime/keyring.py). The KEK wraps this service's
    # data keys at rest: comma-separated, newest first (older ones still unwrap, for rotation).
    data_key_kek: SecretStr = SecretStr("dev-only-data-key-kek-change-me-0123456789abcdef")
    # Where each producing service serves its data keys (POST /v1/data-keys), by service name.
    key_service_urls: dict[str, str] = Field(default_factory=lambda: {
        "intake": "http://127.0.0.1:8001", "referral": "http://127.0.0.1:8002", "partners": "http://127.0.0.1:8003"})
    # The token a service asks a producer for data keys with: from the issuer, by this
    # service's own client (org_type service, scope data-keys:read) — or, in the embedded
    # stack only, handed over per audience (JSON audience → token).
    token_url: str = "http://127.0.0.1:8001/v1/oauth/token"
    service_client_id: str | None = None
    service_client_secret: SecretStr | None = Field(default=None, json_schema_extra={"optional_secret": True})
    service_tokens: SecretStr | None = Field(default=None, json_schema_extra={"optional_secret": True})
    # A fetched data key is cached in memory only, this long (erasure reaches a consumer at
    # the latest after this; case.erased drops it at once).
    data_key_cache_seconds: float = Field(default=60.0, ge=0)

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

    @property
    def metrics_listener_port(self) -> int:
        return self.metrics_port if self.metrics_port is not None else self.http_port + 1000

    @field_validator("organisation_rate_limit")
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        return valid_spec(v)

    def startup_problems(self) -> list[str]:
        """Why this service must not start (empty: it may). Dev mode skips the secret checks."""
        problems = []
        if not self.jwt_jwks:
            problems.append("SAMENWIJK_JWT_JWKS is not set: the token issuer's public keys (a JWKS) are needed")
        else:
            from runtime.auth import parse_jwks

            try:
                parse_jwks(self.jwt_jwks)
            except ValueError as exc:
                problems.append(f"SAMENWIJK_JWT_JWKS is not usable: {exc}")
        if self.metrics_listener_port == self.http_port:
            problems.append("SAMENWIJK_METRICS_PORT equals SAMENWIJK_HTTP_PORT: /metrics needs a listener of its own")
        if self.dev_mode:
            return problems
        if self.jwt_max_lifetime_seconds > 3600:
            problems.append("SAMENWIJK_JWT_MAX_LIFETIME_SECONDS is over 3600: tokens live at most an hour"
                            " outside dev mode")
        prefix = self.model_config["env_prefix"].upper()
        for name, field in type(self).model_fields.items():
            if not _is_secret(field.annotation):
                continue
            value = getattr(self, name)
            reason = weak_secret(value.get_secret_value() if value is not None else None, field.default,
                                 (field.json_schema_extra or {}).get("min_secret_length", MIN_SECRET_LENGTH))
            if reason and not (value is None and (field.json_schema_extra or {}).get("optional_secret")):
                problems.append(f"{prefix}{name.upper()} {reason}")
        password = urlsplit(self.database_url).password
        reason = weak_secret(password, None, MIN_DATABASE_PASSWORD_LENGTH)
        if reason:
            problems.append(f"{prefix}DATABASE_URL: the database password {reason}")
        return problems


def _is_secret(annotation: typing.Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def weak_secret(value: str | None, default: typing.Any, min_length: int) -> str | None:
    """Why a secret is not good enough outside dev mode, or None."""
    if not value:
        return "is not set"
    shipped = default.get_secret_value() if isinstance(default, SecretStr) else default
    if value == shipped:
        return "is the shipped default"
    if _PLACEHOLDER.search(value):
        return "is an example or placeholder value"
    if len(value) < min_length:
        return f"is too short (at least {min_length} characters)"
    if len(set(value)) < 8:
        return "has too little variety to be random"
    return None
