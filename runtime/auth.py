"""Bearer JWT per organisation (client-credentials style), verified with PyJWT.

Claims: sub = organisation id, org_type = corporation | partner | admin, scope (space
separated), optional usr = pseudonymous user id. In the embedded dev mode tokens are
signed with a shared HS256 secret and written to .run/dev-tokens.json.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from runtime.settings import ServiceSettings

ORG_TYPES = ("corporation", "partner", "admin")


@dataclass(frozen=True)
class Principal:
    organisation_id: str
    org_type: str
    scopes: frozenset[str]
    user_id: str | None = None


def issue_token(settings: ServiceSettings, organisation_id: str, org_type: str,
                scopes: tuple[str, ...] = (), ttl: timedelta = timedelta(days=30)) -> str:
    now = datetime.now(UTC)
    claims = {"sub": organisation_id, "org_type": org_type, "scope": " ".join(scopes),
              "iss": settings.jwt_issuer, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


# Client secrets are kept only as salted scrypt hashes (memory-hard, stdlib): a leaked
# table does not give the secrets away, and guessing costs ~50 ms of CPU per try.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + "$".join(
        base64.b64encode(x).decode() for x in (salt, digest))


def verify_client_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


_bearer = HTTPBearer(auto_error=False)


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a
# thread pool, a thread hop per request that cost more than the rest of a POST.
async def principal(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    if credentials is None:
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    settings: ServiceSettings = request.app.state.runtime.settings
    try:
        claims = jwt.decode(credentials.credentials, settings.jwt_secret.get_secret_value(),
                            algorithms=["HS256"], issuer=settings.jwt_issuer,
                            options={"require": ["sub", "exp", "iss"]})
    except jwt.PyJWTError as exc:
        raise HTTPException(401, f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from exc
    if claims.get("org_type") not in ORG_TYPES:
        raise HTTPException(401, "invalid token: unknown org_type")
    return Principal(claims["sub"], claims["org_type"], frozenset(claims.get("scope", "").split()), claims.get("usr"))


def require(org_type: str):
    async def check(p: Principal = Depends(principal)) -> Principal:
        if p.org_type != org_type:
            raise HTTPException(403, f"this endpoint is for {org_type} organisations")
        return p

    return check
