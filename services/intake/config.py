from pathlib import Path

from pydantic import Field

from runtime.settings import ServiceSettings
from services.intake.domain.reference import SHIPPED


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    buurten_file: Path = Field(default=SHIPPED, description="CSV of the buurten this deployment serves")
    repeat_window_days: int = Field(default=90, ge=0, description="a repeat complaint joins the open case; 0 = never")
    retention_days: int = Field(default=730, ge=1, description="personal data of a closed case is erased after this")
    retention_interval_seconds: float = Field(default=3600, gt=0, description="how often the erasure job looks")
    token_ttl_seconds: int = Field(default=3600, ge=60, description="lifetime of a client-credentials token")
