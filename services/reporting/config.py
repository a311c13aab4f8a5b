from pathlib import Path

from pydantic import SecretStr

from runtime.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8004
    reference_file: Path = Path(__file__).parent / "reference" / "GM0363.yaml"
    # Key of the record keys behind the disclosure control (domain/disclosure.py). Keep it
    # secret and stable: with it one could undo the rounding, and a new key republishes every
    # figure with fresh draws (two draws of one cell narrow it down).
    disclosure_key: SecretStr = SecretStr("dev-only-disclosure-key-change-me")
    signal_interval_seconds: float = 60.0
