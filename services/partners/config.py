from pathlib import Path

from runtime.settings import ServiceSettings


class PartnersSettings(ServiceSettings):
    service_name: str = "partners"
    http_port: int = 8003
    registry_file: Path = Path(__file__).parent / "seed" / "demo-partners.yaml"
