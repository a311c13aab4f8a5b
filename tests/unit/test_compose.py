"""compose.yaml is checked offline against the Compose specification, and it sets every
setting the services need (there is no Docker engine here to run it)."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_compose_file_matches_the_compose_spec():
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    result = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(REPO / "compose.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_gets_its_own_database_and_the_real_broker_settings():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    for name in ("intake", "referral", "partners", "reporting"):
        env = compose["services"][name]["environment"]
        assert env["SAMENWIJK_DATABASE_URL"].endswith(f"/{name}")
        assert env["SAMENWIJK_KAFKA_ENABLE_IDEMPOTENCE"] == "true"  # Apache Kafka supports it
        assert env["SAMENWIJK_SERVICE_NAME"] == name
        assert compose["services"][name]["command"] == ["python", "-m", f"services.{name}"]
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka")
