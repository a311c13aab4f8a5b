"""The dashboard: one server-rendered page with inline SVG charts (no scripts, no CDN).

The same protected figures as the JSON API (multiples of 5, scoped per organisation). A
browser signs in once with an admin, corporation or partner token; the token is checked and
dropped, and the browser keeps only a random server-side session id in a `Secure`,
`HttpOnly`, `SameSite=Strict` cookie. Every form that changes state (sign-in, sign-out)
carries a CSRF token and must come from this origin; every page has a CSP without scripts,
`frame-ancestors 'none'` and `nosniff`.
"""

import base64
import hashlib
import hmac
import math
import secrets
from collections import defaultdict
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from runtime.auth import principal
from runtime.http import service_runtime
from runtime.service import ServiceRuntime
from services.reporting.domain.access import Reader
from services.reporting.service_layer import dashboard_sessions, handlers

router = APIRouter(tags=["dashboard"], include_in_schema=False)
SESSION_COOKIE = "samenwijk_session"
LOGIN_CSRF_COOKIE = "samenwijk_login_csrf"
WEEKDAYS = ["ma", "di", "wo", "do", "vr", "za", "zo"]


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/dashboard", secure=True, httponly=True,
                        samesite="strict")


def _same_origin(request: Request) -> None:
    """A state-changing form must come from this origin (browsers send Origin on POST)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # not a browser; the CSRF token still has to match
    parts = urlsplit(origin)
    if f"{parts.scheme}://{parts.netloc}" != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, "cross-origin form post refused")


def _csrf_ok(sent: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


async def signed_in(request: Request, rt: ServiceRuntime) -> dashboard_sessions.SignedIn | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 128:
        return None
    async with rt.pool.acquire() as conn:
        return await dashboard_sessions.current(conn, session_id, datetime.now(UTC))


@router.post("/dashboard/login")
async def login(request: Request, token: str = Form(min_length=10, max_length=4096),
                csrf: str = Form(max_length=128), rt: ServiceRuntime = Depends(service_runtime)) -> Response:
    _same_origin(request)
    if not _csrf_ok(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise HTTPException(403, "the sign-in form's CSRF token does not match; reload the page")
    who = await principal(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))  # 401 if invalid
    async with rt.pool.acquire() as conn:
        session_id = await dashboard_sessions.sign_in(conn, who.organisation_id, who.org_type, who.scopes,
                                                      datetime.now(UTC))
    response = _secured(RedirectResponse("/dashboard", status_code=303))
    _cookie(response, SESSION_COOKIE, session_id, int(dashboard_sessions.SESSION_TTL.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard", secure=True, httponly=True, samesite="strict")
    return response


@router.post("/dashboard/logout")
async def logout(request: Request, csrf: str = Form(max_length=128),
                 rt: ServiceRuntime = Depends(service_runtime)) -> Response:
    _same_origin(request)
    who = await signed_in(request, rt)
    if who is None or not _csrf_ok(csrf, who.csrf_token):
        raise HTTPException(403, "not signed in, or the form's CSRF token does not match")
    async with rt.pool.acquire() as conn:
        await dashboard_sessions.sign_out(conn, request.cookies[SESSION_COOKIE])
    response = _secured(RedirectResponse("/dashboard", status_code=303))
    response.delete_cookie(SESSION_COOKIE, path="/dashboard", secure=True, httponly=True, samesite="strict")
    return response


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, wijk: str | None = None, category: str | None = None,
                    rt: ServiceRuntime = Depends(service_runtime)) -> Response:
    who = await signed_in(request, rt)
    if who is None:  # a page, not an API: 200 with the sign-in form and its CSRF token
        csrf = secrets.token_urlsafe(32)
        response = _secured(HTMLResponse(_page("Aanmelden", _login(csrf))))
        _cookie(response, LOGIN_CSRF_COOKIE, csrf, 600)
        return response
    wijk, category = wijk or None, category or None
    reference = request.app.state.reference
    d, reader = request.app.state.disclosure, Reader.of(who)
    async with rt.pool.acquire() as conn:
        cases = await handlers.case_figures(conn, d, wijk, category, None)
        hours = await handlers.time_of_day(conn, d, wijk, category)
        signals = await handlers.signals(conn, reader)
        goals = await handlers.goals(conn, d, reference)
        spend = await handlers.spend(conn, d, reference, reader) if reader.sees_spend else []
        options = await conn.fetch("SELECT DISTINCT wijk_code, category FROM case_facts ORDER BY 1, 2")
    body = "".join([
        _logout(who.csrf_token),
        _filters(sorted({r["wijk_code"] for r in options}), sorted({r["category"] for r in options}), wijk, category),
        '<div class="grid">',
        _card("Nieuwe casussen per maand", _trend(cases)),
        _card("Wanneer gebeurt het? (meldingen en observaties, per uur)", _heatmap(hours)),
        _card("Leefbaarheidsuitgaven per VHE", "".join(_gauge(s) for s in spend)) if spend else "",
        _card("Doelen: overlast per 100 VHE", "".join(_goal(g) for g in goals)),
        "</div>",
        _card("Signalen", _signals(signals)),
        _card("Buurten", _buurt_table(cases)),
    ])
    return _secured(HTMLResponse(_page(f"samenwijk — wijkbeeld ({escape(who.organisation_id)})", body)))


# -- pieces ---------------------------------------------------------------------------------

def _filters(wijken: list[str], categories: list[str], wijk: str | None, category: str | None) -> str:
    def select(name: str, values: list[str], current: str | None, label: str) -> str:
        opts = "".join(f'<option value="{escape(v)}"{" selected" if v == current else ""}>{escape(v)}</option>'
                       for v in values)
        return f'<label>{label} <select name="{name}" id="filter-{name}"><option value="">alle</option>{opts}</select></label>'

    return (f'<form class="filters" method="get" action="/dashboard">{select("wijk", wijken, wijk, "Wijk")}'
            f'{select("category", categories, category, "Categorie")}<button type="submit">Toon</button></form>')


def _trend(cases: list[dict[str, Any]]) -> str:
    per_month: dict[str, float] = defaultdict(float)
    for row in cases:
        per_month[row["month"]] += row["new"]
    months = sorted(per_month)[-12:]
    if not months:
        return '<p class="empty">Nog geen casussen.</p>'
    width, height, top = 560, 180, max(per_month[m] for m in months) or 1
    step = width / len(months)
    bars = []
    for i, m in enumerate(months):
        h = (height - 30) * per_month[m] / top
        label = f"{per_month[m]:.0f} (afgerond op 5)"
        bars.append(f'<rect class="bar" x="{i * step + 4:.1f}" y="{height - 20 - h:.1f}" width="{step - 8:.1f}" '
                    f'height="{h:.1f}"><title>{m}: {label}</title></rect>'
                    f'<text x="{i * step + step / 2:.1f}" y="{height - 5}" text-anchor="middle">{m[2:]}</text>')
    return f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img">{"".join(bars)}</svg>'


def _heatmap(hours: list[dict[str, Any]]) -> str:
    cells: dict[tuple[int, int], float] = defaultdict(float)
    for r in hours:
        cells[(r["weekday"], r["hour"])] += r["count"]
    top = max(cells.values(), default=0) or 1
    size, left = 20, 28
    rects = [f'<text x="0" y="{(d - 1) * size + 15}">{WEEKDAYS[d - 1]}</text>' for d in range(1, 8)]
    for d in range(1, 8):
        for h in range(24):
            v = cells.get((d, h), 0)
            rects.append(f'<rect class="cell" x="{left + h * size}" y="{(d - 1) * size}" width="{size - 2}" '
                         f'height="{size - 2}" fill-opacity="{0.08 + 0.92 * v / top:.2f}"><title>{WEEKDAYS[d - 1]} '
                         f'{h:02d}:00 — {v:.0f}</title></rect>')
    rects += [f'<text x="{left + h * size}" y="{7 * size + 12}">{h:02d}</text>' for h in range(0, 24, 3)]
    return f'<svg class="chart heatmap" viewBox="0 0 {left + 24 * size} {7 * size + 16}" role="img">{"".join(rects)}</svg>'


def _gauge(s: dict[str, Any]) -> str:
    share = s["share_of_cap"]
    angle = 180 * min(share if share is not None else 0, 1.5) / 1.5  # the dial runs to 150 % of the cap
    x, y = 60 - 50 * math.cos(math.radians(angle)), 60 - 50 * math.sin(math.radians(angle))
    cap_x, cap_y = 60 - 50 * math.cos(math.radians(120)), 60 - 50 * math.sin(math.radians(120))
    value = "—" if share is None else f"€{s['spend_per_vhe_eur']:.2f} / €{s['cap_per_vhe_eur']:.2f}"
    return (f'<figure class="gauge"><svg class="chart" viewBox="0 0 120 70" role="img">'
            f'<path d="M10 60 A50 50 0 0 1 110 60" class="dial"/>'
            f'<line x1="60" y1="60" x2="{cap_x:.1f}" y2="{cap_y:.1f}" class="cap"/>'
            f'<line x1="60" y1="60" x2="{x:.1f}" y2="{y:.1f}" class="needle"/></svg>'
            f'<figcaption>{escape(s["corporation_id"])}<br>{value}</figcaption></figure>')


def _goal(g: dict[str, Any]) -> str:
    points = g["series"][-12:]
    width, height = 260, 90
    top = max([p["per_100_vhe"] or 0 for p in points] + [g["target"] * 1.5, 0.1])
    step = width / max(len(points), 1)
    bars = "".join(
        f'<rect class="bar{" over" if p["met"] is False else ""}" x="{i * step + 2:.1f}" '
        f'y="{height - (height - 10) * (p["per_100_vhe"] or 0) / top:.1f}" width="{step - 4:.1f}" '
        f'height="{(height - 10) * (p["per_100_vhe"] or 0) / top:.1f}"><title>{p["month"]}: '
        f'{p["per_100_vhe"] if p["per_100_vhe"] is not None else "0 (afgerond)"}</title></rect>'
        for i, p in enumerate(points))
    target_y = height - (height - 10) * g["target"] / top
    return (f'<figure class="goal"><svg class="chart" viewBox="0 0 {width} {height}" role="img">{bars}'
            f'<line class="target" x1="0" x2="{width}" y1="{target_y:.1f}" y2="{target_y:.1f}"/></svg>'
            f'<figcaption>{escape(g["buurt_code"])} — doel ≤ {g["target"]} per 100 VHE ({g["vhe"]} VHE)</figcaption></figure>')


def _signals(signals: list[dict[str, Any]]) -> str:
    if not signals:
        return '<p class="empty">Geen signalen.</p>'
    items = "".join(f'<li class="signal {escape(s["kind"])}"><strong>{escape(s["kind"])}</strong> '
                    f'{escape(s["summary"])} <small>({s["period_start"]} – {s["period_end"]}; '
                    f'{escape(", ".join(f"{k}={v}" for k, v in s["evidence"].items()))})</small></li>'
                    for s in signals[:20])
    return f"<ul>{items}</ul>"


def _buurt_table(cases: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(r['buurt_code'])}</td><td>{escape(r['category'])}</td><td>{r['month']}</td>"
        f"<td>{r['new']}</td><td>{r['open']}</td><td>{r['closed']}</td>"
        f"<td>{'' if r['median_days_to_resolve'] is None else r['median_days_to_resolve']}</td>"
        f"<td>{r['response_breaches']}</td></tr>" for r in cases[:200])
    return ('<table id="buurten"><thead><tr><th>Buurt</th><th>Categorie</th><th>Maand</th><th>Nieuw</th><th>Open</th>'
            '<th>Gesloten</th><th>Mediaan dagen</th><th>Termijn overschreden</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _card(title: str, content: str) -> str:
    return f'<section class="card"><h2>{title}</h2>{content}</section>'


def _login(csrf: str) -> str:
    return ('<form method="post" action="/dashboard/login" class="login"><label>Token <input name="token" '
            'type="password" autocomplete="off"></label>'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}"><button type="submit">Aanmelden</button></form>')


def _logout(csrf: str) -> str:
    return ('<form method="post" action="/dashboard/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}"><button type="submit">Afmelden</button></form>')

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1d2b36}
header{background:#154273;color:#fff;padding:12px 24px}h1{font-size:20px;margin:0}
main{padding:16px 24px}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.card{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px #0002}
h2{font-size:15px;margin:0 0 8px}.chart{width:100%;height:auto}.chart text{font-size:10px;fill:#555}
.bar{fill:#2f7ab9}.bar.over{fill:#c0392b}.cell{fill:#154273}.dial{fill:none;stroke:#ddd;stroke-width:10}
.needle{stroke:#154273;stroke-width:3}.cap{stroke:#c0392b;stroke-width:2}.target{stroke:#c0392b;stroke-dasharray:4}
.gauge,.goal{display:inline-block;margin:4px;width:200px;text-align:center;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left}
.filters{margin-bottom:12px}.filters label{margin-right:12px}.empty{color:#777}.logout{float:right}
"""
# No scripts at all; the one inline style block by its hash; forms only to this origin.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no referrer to other sites; the own Origin on own form posts
    "Cache-Control": "no-store",
}


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response



def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width"><link rel="icon" href="data:,"><style>{_STYLE}</style></head>'
            f'<body><header><h1>{title}</h1></header><main>{body}</main></body></html>')
