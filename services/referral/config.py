from pathlib import Path

from pydantic import Field

from runtime.settings import ServiceSettings


class ReferralSettings(ServiceSettings):
    service_name: str = "referral"
    http_port: int = 8002
    rules_dir: Path = Path(__file__).parent / "rules"
    rules_poll_seconds: float = Field(default=5.0, gt=0, description="how often rule files are checked for changes")
    timer_poll_seconds: float = Field(default=1.0, gt=0, description="how often due deadlines are looked for")
    timer_batch_size: int = Field(default=100, ge=1)
