"""Input storage cannot hold (issue 11): a NUL byte in a path, query or body, an
out-of-range date or cursor (year 0001), and a partner id that is too long or malformed
get 422 problem details naming the field on every service — never a 500."""

import base64
import uuid

import httpx
import pytest

from samenwijk_dev import demo
from tests.integration.conftest import NUISANCE, auth

CORP, PARTNER = demo.CORPORATIONS[0], "ggz-noord"
CASE_CURSOR = base64.urlsafe_b64encode(f"0001-01-01T00:00:00+01:00|{uuid.uuid4()}".encode()).decode()
FAR_CURSOR = base64.urlsafe_b64encode(f"9999-12-31T23:59:59-05:00|{uuid.uuid4()}".encode()).decode()

# (service, who, method, path, params, json body, form body, the field the 422 must name)
CASES = [
    ("intake", CORP, "GET", "/v1/cases", {"category": "over\x00last"}, None, None, "query.category"),
    ("intake", CORP, "GET", "/v1/cases", {"cursor": CASE_CURSOR}, None, None, "query.cursor"),
    ("intake", CORP, "GET", "/v1/cases", {"cursor": FAR_CURSOR}, None, None, "query.cursor"),
    ("intake", CORP, "GET", "/v1/cases", {"opened_from": "0001-01-01"}, None, None, "query.opened_from"),
    ("intake", CORP, "GET", "/v1/cases/%00", {}, None, None, "path"),
    ("intake", CORP, "POST", "/v1/cases", {}, {**NUISANCE, "description": "lawaai\x00"}, None, "body.description"),
    ("intake", CORP, "POST", "/v1/cases", {}, {**NUISANCE, "address": {**NUISANCE["address"], "toevoeging": "\x00"}},
     None, "body.address.toevoeging"),
    ("partners", PARTNER, "GET", "/v1/referrals", {"cursor": f"0001-01-01T00:00:00+01:00|{uuid.uuid4()}"}, None, None,
     "query.cursor"),
    ("partners", PARTNER, "GET", "/v1/referrals", {"purpose": "\x00"}, None, None, "query.purpose"),
    ("partners", PARTNER, "POST", f"/v1/referrals/{uuid.uuid4()}/decline", {}, {"code": "geen_capaciteit",
                                                                              "reason": "vol\x00"}, None, "body.reason"),
    ("partners", demo.ADMIN, "PUT", "/v1/admin/partners/" + "a" * 65, {},
     {"partner_id": "a" * 65, "name": "x", "partner_type": "welzijn", "region": "GM0363"}, None, "path.partner_id"),
    ("partners", demo.ADMIN, "PUT", "/v1/admin/partners/Bad_Id", {},
     {"partner_id": "Bad_Id", "name": "x", "partner_type": "welzijn", "region": "GM0363"}, None, "path.partner_id"),
    ("partners", demo.ADMIN, "GET", "/v1/admin/webhook-deliveries", {"partner_id": "x" * 200}, None, None,
     "query.partner_id"),
    ("partners", demo.ADMIN, "PUT", "/v1/admin/partners/p-1/agreements/a-1", {},
     {"agreement_id": "a-1", "purposes": ["x"], "fields": [], "legal_basis": "x", "valid_from": "0001-01-01"}, None,
     "valid_from"),
    ("referral", demo.ADMIN, "GET", "/v1/escalations", {"case_id": "\x00"}, None, None, "query.case_id"),
    ("referral", demo.ADMIN, "GET", "/v1/routing/partners%00", {}, None, None, "path"),
    ("reporting", CORP, "GET", "/v1/kpis/cases", {"wijk": "WK\x00"}, None, None, "query.wijk"),
    ("reporting", CORP, "GET", "/v1/kpis/time-of-day", {"category": "\x00"}, None, None, "query.category"),
    ("reporting", None, "POST", "/dashboard/login", {}, None, {"token": "x" * 12 + "\x00"}, "body.token"),
]


@pytest.mark.parametrize("service,who,method,path,params,body,form,field", CASES,
                         ids=[f"{c[0]}-{c[3][:30]}-{c[7]}" for c in CASES])
def test_unstorable_input_is_a_422_naming_the_field(stack, tokens, service, who, method, path, params, body, form,
                                                    field):
    r = httpx.request(method, stack.url(service) + path, params=params, json=body, data=form,
                      headers=auth(tokens[who]) if who else {})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in r.json().get("errors", [])]
    assert any(f == field or f.endswith(field) for f in fields) or field in r.json()["detail"], r.text
