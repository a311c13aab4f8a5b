"""Every token attack of issue 11 against the running services, each shown to fail.

The route × token matrix covers every admin route of every service (found in the apps,
tests/security/routes.py) with forged, malformed and under-privileged tokens."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import Counter

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import OKPAlgorithm

from runtime.auth import new_signing_key
from samenwijk_dev import demo
from samenwijk_dev.stack import DEV_TOKEN_LIFETIME_SECONDS
from tests.integration.conftest import auth, query
from tests.security.routes import SERVICES, admin_routes, concrete

pytestmark = pytest.mark.integration
# The HS256 secrets shipped before (runtime/settings.py, compose.yaml, the Kubernetes example).
OLD_PUBLIC_SECRETS = ("dev-only-secret-change-me-0123456789abcdef", "change-me-compose-only-secret-0123456789",
                      "change-me-at-least-32-random-bytes-0123456789")
ORGANISATION_BUDGET = 300  # per minute, for referral while the flood test runs
ATTACKER = "attacker-admin"  # the org id forged admin tokens claim; nothing may be created for it
TRIED: Counter = Counter()  # (kind of token) → requests, for the closing note
NOTES: list[str] = []  # measured figures, printed with the counts
HTTP = httpx.Client(timeout=30)  # one client: a new one per request costs more than the request


@pytest.fixture(scope="module", autouse=True)
def closing_note(request):
    """Routes × tokens tried, printed after the module (the figures of the closing note)."""
    yield
    if not TRIED:
        return
    lines = [f"token attacks tried against the stack: {sum(TRIED.values())} requests",
             *(f"  {n:5d}  {kind}" for kind, n in sorted(TRIED.items())), *NOTES]
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


def claims(**over) -> dict:
    now = int(time.time())
    return {"sub": ATTACKER, "org_type": "admin", "scope": "admin", "aud": list(SERVICES),
            "iss": "samenwijk", "iat": now, "exp": now + 600, **over}


def hs256(body: dict, secret: bytes | str, kid: str | None = None) -> str:
    """An HS256 token made by hand, as an attacker would (PyJWT refuses PEM-looking keys)."""
    b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    key = secret.encode() if isinstance(secret, str) else secret
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def ed25519(body: dict, key: dict, kid: str | None = None) -> str:
    return jwt.encode(body, OKPAlgorithm.from_jwk(json.dumps(key)), algorithm="EdDSA",
                      headers={"kid": kid or key["kid"]})


def forged_tokens(stack) -> dict[str, str | None]:
    """Tokens that must get 401 on any route (None: no token at all)."""
    real = json.loads(stack.jwt_signing_key)
    foreign = new_signing_key()
    now = int(time.time())
    without = lambda *names: {k: v for k, v in claims().items() if k not in names}  # noqa: E731
    out: dict[str, str | None] = {"no token": None}
    for i, secret in enumerate(OLD_PUBLIC_SECRETS):
        out[f"HS256 with old public secret {i + 1}"] = hs256(claims(), secret)
        out[f"HS256 with old public secret {i + 1}, real kid"] = hs256(claims(), secret, real["kid"])
    # key confusion: the public key, as PEM and as raw bytes, used as an HMAC secret
    public = OKPAlgorithm.from_jwk(json.dumps({k: v for k, v in real.items() if k != "d"}))
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for form, secret in (("PEM", pem), ("raw bytes", raw)):
        out[f"HS256 keyed with the public key as {form}"] = hs256(claims(), secret, real["kid"])
    out["HS256 keyed with the JWKS document"] = hs256(claims(), stack.jwt_jwks, real["kid"])
    out["alg none"] = jwt.encode(claims(), None, algorithm="none", headers={"kid": real["kid"]})
    out["wrong audience"] = ed25519(claims(aud=["somewhere-else"]), real)
    out["no audience"] = ed25519(without("aud"), real)
    out["exp in the year 9999"] = ed25519(claims(exp=253402300799), real)
    out["lifetime over the maximum"] = ed25519(claims(exp=now + DEV_TOKEN_LIFETIME_SECONDS + 3600), real)
    out["expired"] = ed25519(claims(iat=now - 700, exp=now - 100), real)
    out["no iat"] = ed25519(without("iat"), real)
    out["iat in the future"] = ed25519(claims(iat=now + 600, exp=now + 1200), real)
    out["no iss"] = ed25519(without("iss"), real)
    out["wrong issuer"] = ed25519(claims(iss="evil"), real)
    out["empty sub"] = ed25519(claims(sub=""), real)
    out["sub over 64 characters"] = ed25519(claims(sub="a" * 65), real)
    out["foreign key, unknown kid"] = ed25519(claims(), foreign)
    out["foreign key, real kid"] = ed25519(claims(), foreign, kid=real["kid"])
    out["tampered payload"] = _tampered(ed25519(claims(scope=""), real))
    return out


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode()).decode()
    return f"{header}.{payload}.{signature}"


def unprivileged_tokens(stack) -> dict[str, str]:
    """Validly signed tokens that must get 403 on every admin route."""
    key = stack.jwt_signing_key
    return {
        "admin org without the admin scope": demo.dev_token(key, "audit-beheer", "admin"),
        "admin org with another scope": demo.dev_token(key, "audit-beheer", "admin", ("audit",)),
        "corporation": demo.dev_token(key, "corp-matrix", "corporation", ("admin",)),
        "partner": demo.dev_token(key, "partner-matrix", "partner", ("admin",)),
        "service with the admin scope": demo.dev_token(key, "svc-matrix", "service", ("admin",)),
    }



def call(stack, route: dict, token: str | None, kind: str) -> httpx.Response:
    TRIED[kind] += 1
    headers = auth(token) if token else {}
    return HTTP.request(route["method"], stack.url(route["service"]) + concrete(route), headers=headers,
                        json={} if route["method"] in ("POST", "PUT") else None)


def test_the_matrix_covers_every_admin_looking_route():
    routes = admin_routes()
    assert {r["service"] for r in routes} == set(SERVICES)
    by_service = Counter(r["service"] for r in routes)
    assert all(by_service[s] >= 5 for s in SERVICES), by_service  # 4 ops routes + the service's own
    paths = {(r["service"], r["method"], r["path"]) for r in routes}
    for service in SERVICES:
        assert (service, "POST", "/v1/ops/consumption/pause") in paths
    assert ("intake", "POST", "/v1/clients") in paths and ("reporting", "POST", "/v1/admin/rebuild") in paths
    assert ("referral", "POST", "/v1/routing/rules/reload") in paths


def test_forged_tokens_get_401_on_every_admin_route_of_every_service(stack):
    forged = forged_tokens(stack)
    refused = Counter()
    for route in admin_routes():
        for kind, token in forged.items():
            r = call(stack, route, token, kind)
            assert r.status_code == 401, (kind, route["method"], route["path"], r.status_code, r.text)
            assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
            refused[kind] += 1
    assert len(refused) == len(forged)
    # the attack of the issue: nothing was created for the forged admin
    assert query(stack, "intake", "SELECT count(*) FROM api_clients WHERE organisation_id = %s", ATTACKER) == [(0,)]
    print(f"\nforged tokens: {len(admin_routes())} admin routes × {len(forged)} tokens, all 401")


def test_unprivileged_tokens_get_403_on_every_admin_route_of_every_service(stack):
    for route in admin_routes():
        for kind, token in unprivileged_tokens(stack).items():
            r = call(stack, route, token, kind)
            assert r.status_code == 403, (kind, route["method"], route["path"], r.status_code, r.text)
    assert query(stack, "intake", "SELECT count(*) FROM api_clients WHERE organisation_id = 'audit-beheer'") == [(0,)]


def test_the_real_admin_token_passes_the_same_check(stack, tokens):
    """The control: the matrix's 401/403 come from the token, not from a broken route."""
    for route in admin_routes():
        if route["method"] != "GET":
            continue  # POSTs would pause consumers or reload rules; GETs show the check lets through
        r = call(stack, route, tokens[demo.ADMIN], "real admin (control)")
        assert r.status_code not in (401, 403, 429), (route["path"], r.status_code, r.text)


def test_forged_tokens_get_nothing_on_organisation_routes_either(stack, tokens):
    real = json.loads(stack.jwt_signing_key)
    corp = claims(sub="corp-de-linde", org_type="corporation", scope="")
    for kind, token in {"HS256 old default": hs256(corp, OLD_PUBLIC_SECRETS[0]),
                        "corporation token for partners only": ed25519({**corp, "aud": ["partners"]}, real),
                        "alg none": jwt.encode(corp, None, algorithm="none")}.items():
        TRIED[kind] += 1
        r = HTTP.get(stack.url("intake") + "/v1/cases", headers=auth(token))
        assert r.status_code == 401, (kind, r.text)
    assert HTTP.get(stack.url("intake") + "/v1/cases", headers=auth(ed25519(corp, real))).status_code == 200


def test_services_hold_public_keys_only_and_the_issuer_serves_them(stack, tokens):
    for name, svc in stack.services.items():
        environ = open(f"/proc/{svc.proc.pid}/environ", "rb").read().split(b"\0")
        has_key = any(e.startswith(b"SAMENWIJK_JWT_SIGNING_KEY=") for e in environ)
        assert has_key == (name == "intake"), name
        assert any(e.startswith(b"SAMENWIJK_JWT_JWKS=") for e in environ)
    document = HTTP.get(stack.url("intake") + "/.well-known/jwks.json").json()
    assert document["keys"] and all("d" not in k and k["kty"] == "OKP" for k in document["keys"])
    assert jwt.get_unverified_header(tokens[demo.ADMIN])["kid"] in {k["kid"] for k in document["keys"]}


def register(stack, tokens, organisation_id: str, org_type: str = "corporation", **extra) -> dict:
    r = HTTP.post(stack.url("intake") + "/v1/clients", headers=auth(tokens[demo.ADMIN]),
                   json={"organisation_id": organisation_id, "org_type": org_type, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def token_for(stack, client_id: str, secret: str, **form) -> httpx.Response:
    return HTTP.post(stack.url("intake") + "/v1/oauth/token", timeout=30,
                      data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **form})


def test_client_tokens_are_bounded_and_audience_scoped(stack, tokens):
    client = register(stack, tokens, "corp-bounded")
    r = token_for(stack, client["client_id"], client["client_secret"])
    assert r.status_code == 200 and r.json()["expires_in"] <= 3600
    body = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert body["exp"] - body["iat"] <= 3600 and body["sub"] == "corp-bounded" and body["iss"] == "samenwijk"
    assert sorted(body["aud"]) == ["intake", "partners", "reporting"] and body["scope"] == ""
    narrowed = token_for(stack, client["client_id"], client["client_secret"], audience="intake").json()["access_token"]
    assert HTTP.get(stack.url("intake") + "/v1/cases", headers=auth(narrowed)).status_code == 200
    TRIED["client token narrowed to intake, at reporting"] += 1
    assert HTTP.get(stack.url("reporting") + "/v1/signals", headers=auth(narrowed)).status_code == 401
    assert token_for(stack, client["client_id"], client["client_secret"], audience="referral").status_code == 400
    # a corporation client cannot be given the admin scope
    r = HTTP.post(stack.url("intake") + "/v1/clients", headers=auth(tokens[demo.ADMIN]),
                   json={"organisation_id": "corp-bounded", "org_type": "corporation", "scopes": ["admin"]})
    assert r.status_code == 422
    # nor an organisation id over 64 characters
    r = HTTP.post(stack.url("intake") + "/v1/clients", headers=auth(tokens[demo.ADMIN]),
                   json={"organisation_id": "c" * 65, "org_type": "corporation"})
    assert r.status_code == 422


def test_a_revoked_client_gets_no_token(stack, tokens):
    client = register(stack, tokens, "corp-revoked")
    assert token_for(stack, client["client_id"], client["client_secret"]).status_code == 200
    r = HTTP.post(stack.url("intake") + f"/v1/clients/{client['client_id']}/revoke", headers=auth(tokens[demo.ADMIN]))
    assert r.status_code == 200 and r.json()["revoked"]
    TRIED["revoked client"] += 1
    refused = token_for(stack, client["client_id"], client["client_secret"])
    assert refused.status_code == 401 and "invalid_client" in refused.json()["detail"]
    # and its secret cannot be rotated back to life
    assert HTTP.post(stack.url("intake") + f"/v1/clients/{client['client_id']}/secret",
                      headers=auth(tokens[demo.ADMIN])).status_code == 404
    listed = HTTP.get(stack.url("intake") + "/v1/clients", params={"organisation_id": "corp-revoked"},
                       headers=auth(tokens[demo.ADMIN])).json()
    assert [(c["client_id"], c["revoked"]) for c in listed] == [(client["client_id"], True)]
    assert all("secret" not in k or k == "secret_rotated_at" for c in listed for k in c)


def test_a_rotated_away_secret_stops_working(stack, tokens):
    client = register(stack, tokens, "corp-rotated")
    r = HTTP.post(stack.url("intake") + f"/v1/clients/{client['client_id']}/secret", headers=auth(tokens[demo.ADMIN]))
    assert r.status_code == 200
    fresh = r.json()["client_secret"]
    assert fresh != client["client_secret"]
    TRIED["rotated-away secret"] += 1
    assert token_for(stack, client["client_id"], client["client_secret"]).status_code == 401
    assert token_for(stack, client["client_id"], fresh).status_code == 200


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, every thread


def test_unknown_and_known_client_ids_cost_the_same(stack, tokens):
    """Enumeration by timing: the intake process's CPU per refused request, unknown ids vs a
    known id with a wrong secret. Before: 87 ms vs 4.5 ms (about 19×)."""
    known = register(stack, tokens, "corp-timing")["client_id"]
    pid = stack.services["intake"].proc.pid
    n = 8  # under the per-client limit (10/minute)

    def cost(ids: list[str]) -> tuple[float, float]:
        cpu, wall = _cpu_seconds(pid), time.perf_counter()
        for client_id in ids:
            assert token_for(stack, client_id, "wrong-secret").status_code == 401
        return (_cpu_seconds(pid) - cpu) / n, (time.perf_counter() - wall) / n

    unknown_cpu, unknown_wall = cost([f"corp-none-{uuid.uuid4().hex[:8]}" for _ in range(n)])
    known_cpu, known_wall = cost([known] * n)
    TRIED["token endpoint timing"] += 2 * n
    NOTES.append(f"token endpoint per refused request: unknown id {unknown_cpu * 1000:.0f} ms CPU"
          f" ({unknown_wall * 1000:.0f} ms wall), known id {known_cpu * 1000:.0f} ms CPU ({known_wall * 1000:.0f} ms wall)")
    assert known_cpu > 0.01  # scrypt ran
    assert 0.5 <= unknown_cpu / known_cpu <= 2.0  # wall time is printed only: it moves with the load


def test_the_token_endpoint_is_rate_limited_with_retry_after(stack, tokens):
    client = register(stack, tokens, "corp-brute")
    answers = [token_for(stack, client["client_id"], f"guess-{i}").status_code for i in range(10)]
    assert answers == [401] * 10
    TRIED["token endpoint brute force"] += 12
    limited = token_for(stack, client["client_id"], "guess-10")
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["content-type"].startswith("application/problem+json")
    # the limit comes before the secret is checked: the right secret waits too
    assert token_for(stack, client["client_id"], client["client_secret"]).status_code == 429


@pytest.fixture
def budgeted_referral(stack):
    """Referral restarted with a budget a test can exhaust (the test stack's is 1000/second)."""
    svc = stack.services["referral"]
    saved = dict(svc.env)
    svc.stop()
    svc.env["SAMENWIJK_ORGANISATION_RATE_LIMIT"] = f"{ORGANISATION_BUDGET}/minute"
    svc.start(wait=True)
    yield svc.url
    svc.stop()
    svc.env.clear()
    svc.env.update(saved)
    svc.start(wait=True)


def test_each_organisation_is_rate_limited_with_retry_after(stack, tokens, budgeted_referral):
    flood = demo.dev_token(stack.jwt_signing_key, "corp-flood", "corporation")
    calm = demo.dev_token(stack.jwt_signing_key, "corp-calm", "corporation")
    url = budgeted_referral + "/v1/routing/rules"  # 403 for a corporation, after the budget counts
    with httpx.Client(timeout=30) as client:
        codes = Counter(client.get(url, headers=auth(flood)).status_code for _ in range(ORGANISATION_BUDGET + 5))
        limited = client.get(url, headers=auth(flood))
        TRIED["organisation flood"] += ORGANISATION_BUDGET + 6
        assert codes[403] == ORGANISATION_BUDGET and codes[429] == 5
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert client.get(url, headers=auth(calm)).status_code == 403  # another organisation is not held up


def test_metrics_are_not_on_the_api_port(stack, tokens):
    for name, svc in stack.services.items():
        TRIED["/metrics on the API port"] += 1
        assert HTTP.get(svc.url + "/metrics").status_code == 404
        assert HTTP.get(svc.url + "/metrics", headers=auth(tokens[demo.ADMIN])).status_code == 404
        scraped = HTTP.get(svc.metrics_url)
        assert scraped.status_code == 200 and "samenwijk_outbox_backlog" in scraped.text
        # the metrics listener serves nothing else
        assert HTTP.get(svc.metrics_url.replace("/metrics", "/v1/cases"), headers=auth(tokens[demo.ADMIN])
                         ).status_code == 404
        assert _listening_on(svc.metrics_url) == "127.0.0.1"


def _listening_on(url: str) -> str:
    """The address a local TCP port listens on, from /proc/net/tcp (IPv4)."""
    port = int(url.split(":")[2].split("/")[0])
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on {port}")
