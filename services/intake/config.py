from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from runtime.ratelimit import valid_spec
from runtime.settings import ServiceSettings
from services.intake.domain.reference import SHIPPED


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    buurten_file: Path = Field(default=SHIPPED, description="CSV of the buurten this deployment serves")
    repeat_window_days: int = Field(default=90, ge=0, description="a repeat complaint joins the open case; 0 = never")
    retention_days: int = Field(default=730, ge=1, description="personal data of a closed case is erased after this")
    observation_retention_days: int = Field(default=365, ge=1,
                                            description="an observation that never joined a case is erased after this")
    idempotency_ttl_hours: float = Field(default=24, gt=0, description="a stored Idempotency-Key answer is kept this long")
    retention_interval_seconds: float = Field(default=3600, gt=0, description="how often the erasure job looks")
    # Intake is the one token issuer: only it holds a signing key (an Ed25519 private JWK).
    jwt_signing_key: SecretStr | None = Field(default=None, description="Ed25519 private key as a JWK (JSON)")
    # The clients other services fetch data keys with: JSON service name -> its client secret
    # (`python -m samenwijk_dev secrets` makes them; each service gets its own as
    # SAMENWIJK_SERVICE_CLIENT_SECRET).
    service_clients: SecretStr | None = Field(default=None, json_schema_extra={"optional_secret": True})
    token_ttl_seconds: int = Field(default=3600, ge=60, description="lifetime of a client-credentials token")
    token_rate_limit_per_client: str = Field(default="10/minute;100/hour", description="token requests per client id")
    token_rate_limit_per_address: str = Field(default="60/minute", description="token requests per caller address")

    @field_validator("token_rate_limit_per_client", "token_rate_limit_per_address")
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        return valid_spec(v)

    def startup_problems(self) -> list[str]:
        from runtime.auth import parse_jwks, parse_signing_key

        problems = super().startup_problems()
        if self.token_ttl_seconds > self.jwt_max_lifetime_seconds:
            problems.append("SAMENWIJK_TOKEN_TTL_SECONDS is over SAMENWIJK_JWT_MAX_LIFETIME_SECONDS:"
                            " the services would refuse intake's own tokens")
        if not self.jwt_signing_key or not self.jwt_signing_key.get_secret_value():
            if self.dev_mode:  # outside dev mode the secret check has named it already
                problems.append("SAMENWIJK_JWT_SIGNING_KEY is not set: intake signs the tokens")
            return problems
        try:
            kid, _ = parse_signing_key(self.jwt_signing_key.get_secret_value())
        except ValueError as exc:
            return [*problems, f"SAMENWIJK_JWT_SIGNING_KEY is not usable: {exc}"]
        try:
            if kid not in parse_jwks(self.jwt_jwks or ""):
                problems.append(f"SAMENWIJK_JWT_JWKS lacks the signing key's kid {kid}: no service would"
                                " accept the tokens")
        except ValueError:
            pass  # named by the base check
        return problems
