from pathlib import Path

from pydantic import Field, SecretStr

from runtime.settings import ServiceSettings


class PartnersSettings(ServiceSettings):
    service_name: str = "partners"
    http_port: int = 8003
    registry_file: Path = Path(__file__).parent / "seed" / "demo-partners.yaml"

    # Encrypts webhook secrets at rest; in production from a secret store, never logged.
    webhook_secret_key: SecretStr = SecretStr("dev-only-webhook-key-change-me-0123456789")
    # Retry schedule: exponential backoff with jitter from `initial` up to `max` per wait,
    # given up (dead letter + alert) `give_up_after` seconds after scheduling: about a day.
    webhook_backoff_initial_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=2 * 3600.0, gt=0)
    webhook_give_up_after_seconds: float = Field(default=24 * 3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_poll_seconds: float = Field(default=0.25, gt=0, description="how often the job looks for due deliveries")
    webhook_batch_size: int = Field(default=20, ge=1)
