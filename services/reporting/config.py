from pathlib import Path

from pydantic import SecretStr

from runtime.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8004
    reference_file: Path = Path(__file__).parent / "reference" / "GM0363.yaml"
    # Key of the building hash (location_key); rotate it and old keys no longer match.
    location_key_secret: SecretStr = SecretStr("dev-only-location-key-change-me")
    signal_interval_seconds: float = 60.0
