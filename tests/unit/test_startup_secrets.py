"""Outside dev mode every service refuses default, example and short secrets, naming the
setting (runtime/settings.py); dev mode (the embedded stack) lets them pass."""

import json

import pytest

from runtime.auth import jwks, new_signing_key
from samenwijk_dev import secrets as deploy_secrets
from services.intake.config import IntakeSettings
from services.partners.config import PartnersSettings
from services.referral.config import ReferralSettings
from services.reporting.config import ReportingSettings

KEY = new_signing_key()
GOOD_DB = "postgresql://intake:Qw8rT2yU6iO0pA4sD7fG@db.internal:5432/intake"
SETTINGS = {"intake": IntakeSettings, "referral": ReferralSettings, "partners": PartnersSettings,
            "reporting": ReportingSettings}


def good(service: str) -> dict[str, str]:
    """What `python -m samenwijk_dev secrets` makes: values every check accepts."""
    values = deploy_secrets.fresh()
    env = {"jwt_jwks": values["SAMENWIJK_JWT_JWKS"], "database_url": GOOD_DB,
           "data_key_kek": values[f"SAMENWIJK_{service.upper()}_DATA_KEY_KEK"]}
    env |= {"intake": {"jwt_signing_key": values["SAMENWIJK_JWT_SIGNING_KEY"]},
            "partners": {"webhook_secret_key": values["SAMENWIJK_WEBHOOK_SECRET_KEY"]},
            "reporting": {"disclosure_key": values["SAMENWIJK_DISCLOSURE_KEY"]}}.get(service, {})
    return env


@pytest.mark.parametrize("service", SETTINGS)
def test_generated_secrets_pass(service):
    assert SETTINGS[service](**good(service)).startup_problems() == []


@pytest.mark.parametrize("service", SETTINGS)
def test_shipped_defaults_are_refused_and_each_is_named(service):
    problems = " | ".join(SETTINGS[service]().startup_problems())
    assert "SAMENWIJK_JWT_JWKS" in problems and "SAMENWIJK_DATABASE_URL" in problems
    expected = {"intake": "SAMENWIJK_JWT_SIGNING_KEY", "partners": "SAMENWIJK_WEBHOOK_SECRET_KEY",
                "reporting": "SAMENWIJK_DISCLOSURE_KEY"}.get(service)
    if expected:
        assert expected in problems


WEAK = {
    # the old compose and kubernetes example values, a short one, a repetitive one
    "change-me-compose-only-webhook-key-0123456789": "example or placeholder",
    "change-me-webhook-encryption-key-0123456789": "example or placeholder",
    "dev-only-webhook-key-change-me-0123456789": "shipped default",
    "Zq8vB3nM1": "too short",
    "abababababababababababababababababab": "too little variety",
}


@pytest.mark.parametrize("value,reason", WEAK.items())
def test_weak_webhook_keys_are_refused(value, reason):
    problems = PartnersSettings(**{**good("partners"), "webhook_secret_key": value}).startup_problems()
    assert len(problems) == 1 and problems[0].startswith("SAMENWIJK_WEBHOOK_SECRET_KEY") and reason in problems[0]


@pytest.mark.parametrize("value", ["dev-only-location-key-change-me", "change-me-location-key-0123456789", "kort"])
def test_weak_pseudonymisation_keys_are_refused(value):
    problems = ReportingSettings(**{**good("reporting"), "disclosure_key": value}).startup_problems()
    assert [p.split(" ")[0] for p in problems] == ["SAMENWIJK_DISCLOSURE_KEY"]


@pytest.mark.parametrize("url,reason", [
    ("postgresql://samenwijk@127.0.0.1:5432/samenwijk", "not set"),
    ("postgresql://samenwijk:samenwijk@postgres:5432/intake", "example or placeholder"),  # the old compose default
    ("postgresql://intake:change-me@postgres.samenwijk-db:5432/intake", "example or placeholder"),  # k8s example
    ("postgresql://intake:Xy7kd9@db:5432/intake", "too short"),
])
def test_weak_database_passwords_are_refused(url, reason):
    problems = ReferralSettings(**{**good("referral"), "database_url": url}).startup_problems()
    assert len(problems) == 1 and problems[0].startswith("SAMENWIJK_DATABASE_URL") and reason in problems[0]


def test_the_token_settings_are_checked_too():
    other = new_signing_key()
    intake = IntakeSettings(**{**good("intake"), "jwt_jwks": jwks(other)})
    assert any("lacks the signing key's kid" in p for p in intake.startup_problems())
    assert any("SAMENWIJK_JWT_JWKS is not usable" in p and "private part" in p
               for p in ReferralSettings(**{**good("referral"), "jwt_jwks": json.dumps({"keys": [KEY]})}).startup_problems())
    assert any("SAMENWIJK_JWT_MAX_LIFETIME_SECONDS" in p for p in ReferralSettings(
        **good("referral"), jwt_max_lifetime_seconds=86400).startup_problems())
    assert any("SAMENWIJK_TOKEN_TTL_SECONDS" in p for p in IntakeSettings(
        **good("intake"), token_ttl_seconds=7200, jwt_max_lifetime_seconds=3600).startup_problems())
    assert any("SAMENWIJK_METRICS_PORT" in p for p in ReferralSettings(
        **good("referral"), http_port=8000, metrics_port=8000).startup_problems())


@pytest.mark.parametrize("service", SETTINGS)
def test_dev_mode_allows_the_defaults_but_still_needs_the_public_keys(service):
    assert SETTINGS[service](dev_mode=True, jwt_jwks=jwks(KEY),
                             **({"jwt_signing_key": json.dumps(KEY)} if service == "intake" else {})
                             ).startup_problems() == []
    assert any("SAMENWIJK_JWT_JWKS" in p for p in SETTINGS[service](dev_mode=True).startup_problems())


def test_the_generated_kubernetes_files_fill_every_key_of_the_example_overlay(tmp_path):
    from tests.unit.test_deploy_manifests import OVERLAY, env_file_keys

    for path in deploy_secrets.write_kubernetes(tmp_path):
        shipped = OVERLAY / "secrets" / path.name
        assert env_file_keys(path) == env_file_keys(shipped)
        # the example overlay ships keys without values: nothing there to start with
        assert all(line.endswith("=") for line in shipped.read_text().splitlines() if line and line[0] != "#")
