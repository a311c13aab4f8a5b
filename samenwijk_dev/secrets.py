"""Fresh secrets for a deployment: `python -m samenwijk_dev secrets` prints an .env for
compose.yaml; `--kubernetes DIR` writes the example overlay's secrets/*.env files into DIR.

Every value is random (Python's `secrets`), the token key a new Ed25519 key; nothing here is
a default a service would refuse (runtime/settings.py)."""

import json
import secrets
from pathlib import Path

from runtime.auth import jwks, new_signing_key

SERVICES = ("intake", "referral", "partners", "reporting")


# Services that fetch other services' data keys, each with its own client at intake.
KEY_READERS = ("intake", "referral", "partners")


def fresh() -> dict[str, str]:
    key = new_signing_key()
    clients = {s: secrets.token_urlsafe(32) for s in KEY_READERS}
    return {
        "SAMENWIJK_JWT_SIGNING_KEY": json.dumps(key, separators=(",", ":")),
        "SAMENWIJK_JWT_JWKS": jwks(key),
        "SAMENWIJK_WEBHOOK_SECRET_KEY": secrets.token_urlsafe(32),
        "SAMENWIJK_DISCLOSURE_KEY": secrets.token_urlsafe(32),
        # crypto-shredding: each service's KEK, and the service clients intake keeps for them
        **{f"SAMENWIJK_{s.upper()}_DATA_KEY_KEK": secrets.token_urlsafe(32) for s in SERVICES},
        **{f"SAMENWIJK_{s.upper()}_SERVICE_CLIENT_SECRET": v for s, v in clients.items()},
        "SAMENWIJK_SERVICE_CLIENTS": json.dumps(clients, separators=(",", ":")),
    }


def compose_env() -> str:
    values = {**fresh(), "POSTGRES_PASSWORD": secrets.token_urlsafe(24)}
    # single quotes: compose takes the JSON literally
    return "".join(f"{k}='{v}'\n" for k, v in values.items())


def kubernetes_files(database_host: str = "postgres.samenwijk-db:5432") -> dict[str, str]:
    values = fresh()

    def db(service: str) -> str:
        return f"SAMENWIJK_DATABASE_URL=postgresql://{service}:{secrets.token_urlsafe(24)}@{database_host}/{service}\n"

    def keys(service: str) -> str:
        out = f"SAMENWIJK_DATA_KEY_KEK={values[f'SAMENWIJK_{service.upper()}_DATA_KEY_KEK']}\n"
        if service in KEY_READERS:
            out += f"SAMENWIJK_SERVICE_CLIENT_SECRET={values[f'SAMENWIJK_{service.upper()}_SERVICE_CLIENT_SECRET']}\n"
        return out

    return {
        "jwt.env": f"SAMENWIJK_JWT_JWKS={values['SAMENWIJK_JWT_JWKS']}\n",
        "intake.env": db("intake") + f"SAMENWIJK_JWT_SIGNING_KEY={values['SAMENWIJK_JWT_SIGNING_KEY']}\n"
        + keys("intake") + f"SAMENWIJK_SERVICE_CLIENTS={values['SAMENWIJK_SERVICE_CLIENTS']}\n",
        "referral.env": db("referral") + keys("referral"),
        "partners.env": db("partners") + f"SAMENWIJK_WEBHOOK_SECRET_KEY={values['SAMENWIJK_WEBHOOK_SECRET_KEY']}\n"
        + keys("partners"),
        "reporting.env": db("reporting") + f"SAMENWIJK_DISCLOSURE_KEY={values['SAMENWIJK_DISCLOSURE_KEY']}\n"
        + keys("reporting"),
    }


def write_kubernetes(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in kubernetes_files().items():
        path = directory / name
        path.touch(0o600)
        path.write_text(text)
        written.append(path)
    return written
