"""Token verification offline: what each forged or malformed token gets (runtime/auth.py)."""

import json
import time

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from runtime.auth import Auth, Principal, TokenIssuer, TokenVerifier, InvalidToken, jwks, new_signing_key, principal
from runtime.settings import ServiceSettings

KEY = new_signing_key()
ISSUER = TokenIssuer(json.dumps(KEY), "samenwijk")
VERIFIER = TokenVerifier(jwks(KEY), "samenwijk", "referral", 3600)
OLD_DEFAULT = "dev-only-secret-change-me-0123456789abcdef"  # the HS256 secret shipped before


def claims(**over) -> dict:
    now = int(time.time())
    return {"sub": "samenwijk-beheer", "org_type": "admin", "scope": "admin", "aud": ["referral"],
            "iss": "samenwijk", "iat": now, "exp": now + 600, **over}


def signed(body: dict, key=None, headers=None) -> str:
    from jwt.algorithms import OKPAlgorithm

    private = OKPAlgorithm.from_jwk(json.dumps(key or KEY))
    return jwt.encode(body, private, algorithm="EdDSA", headers={"kid": (key or KEY)["kid"], **(headers or {})})


def test_an_issued_token_verifies_for_a_service_in_its_audience():
    who = VERIFIER.verify(ISSUER.issue("corp-de-linde", "corporation", audience=["intake", "referral"]))
    assert who == Principal("corp-de-linde", "corporation", frozenset())


@pytest.mark.parametrize("token,reason", [
    (jwt.encode(claims(), OLD_DEFAULT, algorithm="HS256"), "algorithm"),
    (jwt.encode(claims(), json.dumps(jwks(KEY)), algorithm="HS256", headers={"kid": KEY["kid"]}), "algorithm"),
    (jwt.encode(claims(), None, algorithm="none", headers={"kid": KEY["kid"]}), "algorithm"),
    (signed(claims(aud=["partners"])), "audience"),
    (signed({k: v for k, v in claims().items() if k != "aud"}), "aud"),
    (signed(claims(exp=253402300799)), "lifetime"),  # 9999-12-31
    (signed(claims(exp=int(time.time()) + 7200)), "lifetime"),
    (signed({k: v for k, v in claims().items() if k != "iat"}), "iat"),
    (signed(claims(iat=int(time.time()) + 3000, exp=int(time.time()) + 3600)), "iat"),
    (signed(claims(exp=int(time.time()) - 120)), "expired"),
    (signed(claims(sub="")), "sub"),
    (signed(claims(sub="x" * 65)), "sub"),
    (signed(claims(iss="someone-else")), "issuer"),
    (signed(claims(org_type="root")), "org_type"),
    (signed(claims(), key=new_signing_key()), "kid"),
    (signed(claims(), key={**new_signing_key(), "kid": KEY["kid"]}), "signature"),
    ("not.a.token", "header"),
])
def test_forged_and_malformed_tokens_are_refused(token, reason):
    with pytest.raises(InvalidToken) as refused:
        VERIFIER.verify(token)
    assert reason.lower() in str(refused.value).lower()


def test_a_jwks_holds_public_keys_only_and_ed25519_only():
    assert "d" not in json.loads(jwks(KEY))["keys"][0]
    with pytest.raises(ValueError, match="private part"):
        TokenVerifier(json.dumps({"keys": [KEY]}), "samenwijk", "intake", 3600)
    with pytest.raises(ValueError, match="Ed25519"):
        TokenVerifier(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}), "samenwijk", "intake", 3600)


def test_keys_rotate_by_kid():
    new = new_signing_key()
    both = TokenVerifier(jwks(KEY, new), "samenwijk", "referral", 3600)
    for key in (KEY, new):
        token = TokenIssuer(json.dumps(key), "samenwijk").issue("corp-de-linde", "corporation", audience=["referral"])
        assert both.verify(token).organisation_id == "corp-de-linde"
    # after the old key is dropped from the JWKS, its tokens stop working
    only_new = TokenVerifier(jwks(new), "samenwijk", "referral", 3600)
    with pytest.raises(InvalidToken, match="kid"):
        only_new.verify(ISSUER.issue("corp-de-linde", "corporation", audience=["referral"]))


def test_each_organisation_has_a_request_budget_with_retry_after():
    settings = ServiceSettings(service_name="referral", jwt_jwks=jwks(KEY), organisation_rate_limit="3/minute")
    app = FastAPI()
    app.state.runtime = type("Runtime", (), {"auth": Auth(settings)})()

    @app.get("/who")
    async def who(p: Principal = Depends(principal)) -> str:
        return p.organisation_id

    client = TestClient(app)
    busy = {"Authorization": "Bearer " + ISSUER.issue("corp-busy", "corporation", audience=["referral"])}
    calm = {"Authorization": "Bearer " + ISSUER.issue("corp-calm", "corporation", audience=["referral"])}
    assert [client.get("/who", headers=busy).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/who", headers=busy)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/who", headers=calm).status_code == 200  # one organisation's budget, not everyone's
