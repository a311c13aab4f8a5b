"""compose.yaml is checked offline against the Compose specification, and it sets every
setting the services read (there is no Docker engine here to run it)."""

import importlib
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import yaml
from pydantic import SecretStr

from contracts.topics import Topics
from runtime.recovery import EPOCH_TOPIC
from runtime.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "referral", "partners", "reporting")
# Not for the compose broker (a PLAINTEXT listener) — deploy/ sets them for a real cluster.
SASL_ONLY = {"SAMENWIJK_KAFKA_SASL_MECHANISM", "SAMENWIJK_KAFKA_SASL_USERNAME", "SAMENWIJK_KAFKA_SASL_PASSWORD"}
# Spans go to the OTLP collector in compose and in the cluster; the trace file is for `make run`.
# Service tokens handed over ready-made: the embedded stack only (elsewhere: the service's client).
EMBEDDED_ONLY = {"SAMENWIJK_TRACE_FILE", "SAMENWIJK_SERVICE_TOKENS"}
# Reporting reads no personal data: it has no client for fetching data keys.
NOT_FOR = {"reporting": {"SAMENWIJK_SERVICE_CLIENT_ID", "SAMENWIJK_SERVICE_CLIENT_SECRET"}}


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.config")
    (cls,) = [c for c in vars(module).values()
              if isinstance(c, type) and issubclass(c, ServiceSettings) and c.__module__ == module.__name__]
    return cls


def setting_env_names(service: str) -> set[str]:
    """Every environment variable the service reads, from its settings class itself."""
    cls = settings_class(service)
    prefix = cls.model_config["env_prefix"]
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


def secret_env_names(service: str) -> set[str]:
    """Settings that hold a secret: SecretStr fields, and the database URL (it has the password)."""
    cls = settings_class(service)
    prefix = cls.model_config["env_prefix"]
    secret = {name for name, field in cls.model_fields.items()
              if field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)}
    return {f"{prefix}{name}".upper() for name in secret | {"database_url"}}


def partner_ids() -> list[str]:
    registry = yaml.safe_load((REPO / "services/partners/seed/demo-partners.yaml").read_text())
    return [p["partner_id"] for p in registry["partners"]]


def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def init_topics() -> dict[str, int]:
    """Topic → partitions as the kafka-init step creates them."""
    script = "\n".join(compose()["services"]["kafka-init"]["command"])
    return {name: int(n) for name, n in re.findall(r"^\s*create (\S+) (\d+)\s*$", script, re.MULTILINE)}


def test_compose_file_matches_the_compose_spec():
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    result = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(REPO / "compose.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_gets_its_own_database_and_the_real_broker_settings():
    spec = compose()
    for name in SERVICES:
        env = spec["services"][name]["environment"]
        assert env["SAMENWIJK_DATABASE_URL"].endswith(f"/{name}")
        assert env["SAMENWIJK_KAFKA_ENABLE_IDEMPOTENCE"] == "true"  # Apache Kafka supports it
        assert env["SAMENWIJK_SERVICE_NAME"] == name
        assert spec["services"][name]["command"] == ["python", "-m", f"services.{name}"]
    assert spec["services"]["kafka"]["image"].startswith("apache/kafka")
    assert spec["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft


def test_every_setting_the_services_read_is_set():
    spec = compose()
    for name in SERVICES:
        env = spec["services"][name]["environment"]
        missing = setting_env_names(name) - SASL_ONLY - EMBEDDED_ONLY - NOT_FOR.get(name, set()) - set(env)
        assert not missing, f"compose.yaml does not set {sorted(missing)} for {name}"
        unknown = {k for k in env if k.startswith("SAMENWIJK_")} - setting_env_names(name)
        assert not unknown, f"{name} reads no setting {sorted(unknown)}"


def test_secrets_can_be_given_from_outside_the_file():
    spec = compose()
    for name in SERVICES:
        env = spec["services"][name]["environment"]
        for key in secret_env_names(name) & set(env):
            assert "${" in env[key], f"{name}: {key} is fixed in compose.yaml; interpolate it"


def test_topics_are_created_with_their_partitions_before_the_services_start():
    spec = compose()
    topics = init_topics()
    expected = set(Topics.shared()) | {EPOCH_TOPIC} | {t for p in partner_ids()
                                                      for t in (Topics.partner_inbox(p), Topics.partner_responses(p))}
    assert set(topics) == expected
    assert all(n >= 1 for n in topics.values())
    assert spec["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for name in SERVICES:
        depends = spec["services"][name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert "readyz" in " ".join(spec["services"][name]["healthcheck"]["test"])


def test_secrets_have_no_default_in_the_file():
    """`${X:?…}`: compose refuses to start until each secret is given (no shipped fallback)."""
    spec = compose()
    for name in SERVICES:
        env = spec["services"][name]["environment"]
        for key in secret_env_names(name) & set(env):
            assert ":-" not in env[key] and ":?" in env[key], f"{name}: {key} has a default in compose.yaml"
    assert ":?" in spec["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    # the signing key only where tokens are issued; everyone verifies with the public JWKS
    assert [n for n in SERVICES if "SAMENWIJK_JWT_SIGNING_KEY" in spec["services"][n]["environment"]] == ["intake"]
    assert all(":?" in spec["services"][n]["environment"]["SAMENWIJK_JWT_JWKS"] for n in SERVICES)
