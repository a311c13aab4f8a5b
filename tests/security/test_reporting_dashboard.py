"""The dashboard's sign-in, against the real stack (issue 11, item 7): a server-side session
in a Secure, HttpOnly, SameSite cookie instead of the bearer token, CSRF on its forms, and
CSP / frame / nosniff headers. (The browser itself is in test_reporting_neighbourhood.py.)"""

import hashlib
import re

import httpx
import pytest

from samenwijk_dev import demo
from tests.integration.conftest import query

pytestmark = pytest.mark.integration


def _cookies(response: httpx.Response) -> dict[str, str]:
    """name → the whole Set-Cookie line (httpx would not send Secure cookies over http)."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def _value(line: str) -> str:
    return line.split("=", 1)[1].split(";", 1)[0]


def _sign_in_page(base: str) -> tuple[str, str]:
    page = httpx.get(base + "/dashboard")
    assert page.status_code == 200 and 'name="token"' in page.text
    cookie = _cookies(page)["samenwijk_login_csrf"]
    form = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return _value(cookie), form


def _headers_ok(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def _flags_ok(line: str) -> None:
    low = line.lower()
    assert "secure" in low and "httponly" in low and "samesite=strict" in low, line


def test_sign_in_gives_a_session_not_the_token(stack, tokens):
    base, token = stack.url("reporting"), tokens[demo.CORPORATIONS[0]]
    csrf_cookie, csrf = _sign_in_page(base)
    r = httpx.post(base + "/dashboard/login", data={"token": token, "csrf": csrf},
                   headers={"Cookie": f"samenwijk_login_csrf={csrf_cookie}", "Origin": base})
    assert r.status_code == 303, r.text
    _headers_ok(r)
    line = _cookies(r)["samenwijk_session"]
    _flags_ok(line)
    session = _value(line)
    assert session != token and token not in r.headers.get("set-cookie", "") and session.count(".") == 0
    # the server keeps only a hash of the session id, and never the token
    stored = query(stack, "reporting", "SELECT session_hash, organisation_id FROM dashboard_sessions")
    assert (hashlib.sha256(session.encode()).hexdigest(), demo.CORPORATIONS[0]) in stored
    assert not [row for row in stored if session in row or token in row]
    page = httpx.get(base + "/dashboard", headers={"Cookie": f"samenwijk_session={session}"})
    assert page.status_code == 200 and "wijkbeeld" in page.text
    _headers_ok(page)
    # sign-out needs the session's CSRF token; afterwards the session is gone on the server
    logout_csrf = re.search(r'action="/dashboard/logout".*?name="csrf" value="([^"]+)"', page.text).group(1)
    denied = httpx.post(base + "/dashboard/logout", data={"csrf": "x" * 43},
                        headers={"Cookie": f"samenwijk_session={session}"})
    assert denied.status_code == 403
    out = httpx.post(base + "/dashboard/logout", data={"csrf": logout_csrf},
                     headers={"Cookie": f"samenwijk_session={session}", "Origin": base})
    assert out.status_code == 303
    again = httpx.get(base + "/dashboard", headers={"Cookie": f"samenwijk_session={session}"})
    assert 'name="token"' in again.text  # signed out: the sign-in form again


def test_the_bearer_token_as_a_cookie_signs_nobody_in(stack, tokens):
    base, token = stack.url("reporting"), tokens[demo.ADMIN]
    for cookie in (f"samenwijk_token={token}", f"samenwijk_session={token}"):
        page = httpx.get(base + "/dashboard", headers={"Cookie": cookie})
        assert page.status_code == 200 and 'name="token"' in page.text and "wijkbeeld" not in page.text


def test_sign_in_without_the_csrf_token_or_from_another_origin_is_refused(stack, tokens):
    base, token = stack.url("reporting"), tokens[demo.CORPORATIONS[0]]
    csrf_cookie, csrf = _sign_in_page(base)
    attempts = [
        ({"token": token, "csrf": csrf}, {}),  # no cookie: a cross-site form cannot carry it (SameSite)
        ({"token": token, "csrf": "forged" * 7}, {"Cookie": f"samenwijk_login_csrf={csrf_cookie}"}),
        ({"token": token, "csrf": csrf}, {"Cookie": f"samenwijk_login_csrf={csrf_cookie}",
                                          "Origin": "https://evil.example"}),
    ]
    for data, headers in attempts:
        r = httpx.post(base + "/dashboard/login", data=data, headers=headers)
        assert r.status_code == 403 and "samenwijk_session" not in r.headers.get("set-cookie", ""), r.text
    missing = httpx.post(base + "/dashboard/login", data={"token": token},
                         headers={"Cookie": f"samenwijk_login_csrf={csrf_cookie}"})
    assert missing.status_code == 422


def test_the_sign_in_page_sets_its_headers_and_a_strict_csrf_cookie(stack):
    page = httpx.get(stack.url("reporting") + "/dashboard")
    _headers_ok(page)
    _flags_ok(_cookies(page)["samenwijk_login_csrf"])
