"""Bearer JWT per organisation (client-credentials style), verified with PyJWT.

One issuer signs (intake's token endpoint, Ed25519/EdDSA); every service verifies with the
public keys only (a JWKS document, `SAMENWIJK_JWT_JWKS`), picks the key by `kid` (so keys
rotate), pins the algorithm and demands its own name in `aud`.

Claims: sub = organisation id, org_type = corporation | partner | admin | service, scope
(space separated), aud (the services the token is for), iss, iat, exp (at most
`jwt_max_lifetime_seconds` after iat), optional cid = client id, usr = pseudonymous user.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.algorithms import OKPAlgorithm

from runtime.ratelimit import RateLimit, too_many

ORG_TYPES = ("corporation", "partner", "admin", "service")
# The audiences a token may name: the four services (a service verifies only tokens whose
# `aud` contains its own name).
AUDIENCES = ("intake", "referral", "partners", "reporting")
ALGORITHM = "EdDSA"  # pinned: a token with any other `alg` (HS256, none, RS256) is refused
# An organisation id (token `sub`, client's organisation, partner id): bounded, plain.
ORGANISATION_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"
SCOPE = r"^[a-z][a-z0-9:._-]{0,63}$"
ADMIN_SCOPE = "admin"
LEEWAY_SECONDS = 30  # clock skew between the issuer and a verifier


@dataclass(frozen=True)
class Principal:
    organisation_id: str
    org_type: str
    scopes: frozenset[str]
    user_id: str | None = None
    client_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """An admin organisation *with* the admin scope; either alone is not enough."""
        return self.org_type == "admin" and ADMIN_SCOPE in self.scopes


class InvalidToken(Exception):
    pass


# -- keys ----------------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an OKP key: the same key always gets the same kid."""
    canonical = json.dumps({k: public_jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(private_jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in private_jwk.items() if k != "d"}


def new_signing_key() -> dict[str, Any]:
    """A fresh Ed25519 key as a private JWK (one line of JSON fits an env file)."""
    jwk = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate(), as_dict=True)
    return {**jwk, "kid": key_id(jwk), "alg": ALGORITHM, "use": "sig"}


def jwks(*public_keys: dict[str, Any]) -> str:
    return json.dumps({"keys": [public_jwk(k) for k in public_keys]})


def _ed25519(jwk: dict[str, Any], private: bool) -> Any:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("only Ed25519 (kty OKP, crv Ed25519) keys are accepted")
    if not jwk.get("kid"):
        raise ValueError("every key needs a kid")
    if not private and "d" in jwk:
        raise ValueError(f"key {jwk['kid']} has a private part: a JWKS holds public keys only")
    key = OKPAlgorithm.from_jwk(json.dumps(jwk))
    wanted = Ed25519PrivateKey if private else Ed25519PublicKey
    if not isinstance(key, wanted):
        raise ValueError(f"key {jwk['kid']} is not an Ed25519 {'private' if private else 'public'} key")
    return key


def parse_jwks(document: str) -> dict[str, Ed25519PublicKey]:
    """kid → public key; raises ValueError on anything but a JWKS of Ed25519 public keys."""
    try:
        keys = json.loads(document)["keys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not a JWKS document ({\"keys\": [...]})") from exc
    if not isinstance(keys, list) or not keys:
        raise ValueError("the JWKS has no keys")
    return {k["kid"]: _ed25519(k, private=False) for k in keys}


def parse_signing_key(document: str) -> tuple[str, Ed25519PrivateKey]:
    try:
        jwk = json.loads(document)
    except ValueError as exc:
        raise ValueError("not a JWK (one line of JSON)") from exc
    if not isinstance(jwk, dict) or "d" not in jwk:
        raise ValueError("not a private JWK (no 'd')")
    return jwk["kid"] if jwk.get("kid") else "", _ed25519(jwk, private=True)


# -- issuing ---------------------------------------------------------------------------------

class TokenIssuer:
    """Signs tokens with one private key (only the token issuer holds it)."""

    def __init__(self, signing_key: str, issuer: str) -> None:
        self.kid, self._key = parse_signing_key(signing_key)
        self.issuer = issuer

    def issue(self, organisation_id: str, org_type: str, scopes: tuple[str, ...] | list[str] = (), *,
              audience: tuple[str, ...] | list[str] = AUDIENCES, ttl: timedelta = timedelta(hours=1),
              client_id: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": organisation_id, "org_type": org_type, "scope": " ".join(scopes),
                                  "aud": list(audience), "iss": self.issuer, "iat": now,
                                  "exp": now + int(ttl.total_seconds()), "jti": secrets.token_hex(8)}
        if client_id:
            claims["cid"] = client_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})


# -- verifying -------------------------------------------------------------------------------

class TokenVerifier:
    """Checks a bearer token for one service: signature by a known kid, EdDSA only, this
    service in `aud`, the issuer, iat/exp present and at most `max_lifetime` apart, a
    non-empty bounded `sub`, a known org_type."""

    def __init__(self, jwks_document: str, issuer: str, audience: str, max_lifetime_seconds: int) -> None:
        self.keys = parse_jwks(jwks_document)
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime = max_lifetime_seconds

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"the algorithm must be {ALGORITHM}")
        key = self.keys.get(header.get("kid"))  # type: ignore[arg-type]
        if key is None:
            raise InvalidToken("unknown key id (kid)")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                                leeway=LEEWAY_SECONDS, options={"require": ["sub", "iat", "exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int | float) or iat > time.time() + LEEWAY_SECONDS:
            raise InvalidToken("iat is in the future")
        if exp - iat > self.max_lifetime:
            raise InvalidToken(f"lifetime over the maximum of {self.max_lifetime} s")
        sub = claims["sub"]
        if not isinstance(sub, str) or not re.fullmatch(ORGANISATION_ID, sub):
            raise InvalidToken("sub must be an organisation id (2-64 of a-z, 0-9, -)")
        if claims.get("org_type") not in ORG_TYPES:
            raise InvalidToken("unknown org_type")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("scope must be a string")
        return Principal(sub, claims["org_type"], frozenset(scope.split()), claims.get("usr"), claims.get("cid"))


# -- client secrets --------------------------------------------------------------------------

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


@cache
def _dummy_hash() -> str:
    return hash_client_secret(new_client_secret())


def prepare_client_checks() -> None:
    """Makes the dummy hash up front, so the first unknown id does not cost one scrypt more."""
    _dummy_hash()


def verify_client(secret: str, stored: str | None) -> bool:
    """The same scrypt work whether or not the client exists: an unknown id costs what a
    wrong secret costs, so the token endpoint tells nothing by its timing."""
    if stored is None:
        verify_client_secret(secret, _dummy_hash())
        return False
    return verify_client_secret(secret, stored)


# -- FastAPI dependencies --------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False)


class Auth:
    """What a service needs to check callers: the verifier (built on first use, so code that
    never serves a request needs no JWKS) and each organisation's request budget."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.per_organisation = RateLimit(settings.organisation_rate_limit)
        self._verifier: TokenVerifier | None = None

    @property
    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            s = self.settings
            if not s.jwt_jwks:
                raise InvalidToken("this service has no JWKS configured (SAMENWIJK_JWT_JWKS)")
            self._verifier = TokenVerifier(s.jwt_jwks, s.jwt_issuer, s.service_name, s.jwt_max_lifetime_seconds)
        return self._verifier


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a
# thread pool, a thread hop per request that cost more than the rest of a POST.
async def principal(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    auth: Auth = request.app.state.runtime.auth
    try:
        who = auth.verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc
    wait = auth.per_organisation.hit(who.organisation_id)
    if wait:
        raise too_many(wait, f"organisation {who.organisation_id} is over its request budget")
    return who


def require(org_type: str):
    """A dependency for one kind of organisation. Admin routes use `admin` (the scope too)."""
    if org_type == "admin":
        raise ValueError("use runtime.auth.admin: it checks the admin scope as well")

    async def check(p: Principal = Depends(principal)) -> Principal:
        if p.org_type != org_type:
            raise HTTPException(403, f"this endpoint is for {org_type} organisations")
        return p

    return check


async def admin(p: Principal = Depends(principal)) -> Principal:
    """The one admin check of every service: an admin organisation with the admin scope."""
    if p.org_type != "admin":
        raise HTTPException(403, "this endpoint is for admin organisations")
    if ADMIN_SCOPE not in p.scopes:
        raise HTTPException(403, "this endpoint needs the admin scope")
    return p
