"""A real service process outside dev mode refuses to start on shipped/example secrets, and
says which settings (runtime/main.py): it exits before opening a port or a database."""

import os
import subprocess
import sys

import pytest

from runtime.auth import jwks, new_signing_key
from samenwijk_dev.postgres import free_port
from samenwijk_dev.stack import REPO

# The values compose.yaml and the Kubernetes example shipped before this suite existed.
OLD_EXAMPLES = {
    "SAMENWIJK_WEBHOOK_SECRET_KEY": "change-me-compose-only-webhook-key-0123456789",
    "SAMENWIJK_DISCLOSURE_KEY": "change-me-compose-only-disclosure-key",
}
EXPECTED = {
    "intake": ["SAMENWIJK_JWT_SIGNING_KEY is not set", "SAMENWIJK_DATABASE_URL: the database password"],
    "referral": ["SAMENWIJK_DATABASE_URL: the database password"],
    "partners": ["SAMENWIJK_WEBHOOK_SECRET_KEY is an example", "SAMENWIJK_DATABASE_URL: the database password"],
    "reporting": ["SAMENWIJK_DISCLOSURE_KEY is an example", "SAMENWIJK_DATABASE_URL: the database password"],
}


@pytest.mark.parametrize("service", EXPECTED)
def test_a_service_process_refuses_default_secrets(service):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMENWIJK_")}
    env |= {**OLD_EXAMPLES, "SAMENWIJK_JWT_JWKS": jwks(new_signing_key()), "SAMENWIJK_HTTP_PORT": str(port),
            "SAMENWIJK_METRICS_PORT": str(free_port()),
            "SAMENWIJK_DATABASE_URL": f"postgresql://samenwijk:samenwijk@127.0.0.1:{free_port()}/{service}"}
    done = subprocess.run([sys.executable, "-m", f"services.{service}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"{service} refuses to start" in done.stderr
    for problem in EXPECTED[service]:
        assert problem in done.stderr, done.stderr

