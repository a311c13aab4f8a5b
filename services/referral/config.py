from pathlib import Path

from runtime.settings import ServiceSettings


class ReferralSettings(ServiceSettings):
    service_name: str = "referral"
    http_port: int = 8002
    rules_dir: Path = Path(__file__).parent / "rules"
