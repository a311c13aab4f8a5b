"""The demo scenario of `make run`: two cases go through all four services.

A nuisance case (overlast.geluid → buurtbemiddeling) and a "verward persoon" case
(zorg.verward_gedrag → GGZ and wijkteam). GGZ and buurtbemiddeling accept through the
partner API; the wijkteam, a Kafka-native partner, accepts with a command on its
responses topic. Then each case's journey is printed as the corporation sees it.
"""

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from contracts.envelope import CONTENT_TYPE, encode
from contracts.events import AcceptReferral
from contracts.topics import Topics
from runtime.auth import TokenIssuer
from runtime.settings import ServiceSettings

CORPORATIONS = ("corp-de-linde", "corp-het-anker")
PARTNERS = ("gemeente-amsterdam", "ggz-noord", "wijkteam-noord", "politie-amsterdam",
            "buurtbemiddeling-amsterdam", "schuldhulp-amsterdam")
ADMIN = "samenwijk-beheer"
KAFKA_NATIVE = "wijkteam-noord"

NUISANCE = {
    "category": "overlast.geluid", "severity": "normal",
    "address": {"postcode": "1024AB", "huisnummer": 17, "toevoeging": "2"},
    "buurt_code": "BU03634501", "wijk_code": "WK036345",
    "description": "Harde muziek en bonken na middernacht, al drie weken.",
    "reporter": {"anonymous": False, "name": "Buurvrouw (blijft in intake)", "phone": "0612345678"},
    "handling_professional": "wc-0193",
}
CONFUSED_PERSON = {
    "category": "zorg.verward_gedrag", "severity": "urgent",
    "address": {"postcode": "1024AC", "huisnummer": 3},
    "buurt_code": "BU03634502", "wijk_code": "WK036345",
    "description": "Bewoner spreekt buren 's nachts aan, lijkt de weg kwijt.",
    "care_signal": "Zorgmijdend, eerder contact met GGZ, familie maakt zich zorgen.",
    "household_ref": "hh-7f3a91",
    "contact": {"phone": "0687654321"},
    "reporter": {"anonymous": True},
    "handling_professional": "wc-0193",
}


def dev_token(signing_key: str, organisation_id: str, org_type: str, scopes: tuple[str, ...] = (),
              lifetime: timedelta = timedelta(hours=12), **claims) -> str:
    """A token as intake would issue it, signed with the embedded stack's dev key
    (`Stack.jwt_signing_key`); its lifetime must fit the stack's maximum (stack.py)."""
    issuer = ServiceSettings.model_fields["jwt_issuer"].default
    return TokenIssuer(signing_key, issuer).issue(organisation_id, org_type, scopes, ttl=lifetime, **claims)


def dev_tokens(signing_key: str) -> dict[str, str]:
    tokens = {org: dev_token(signing_key, org, "corporation") for org in CORPORATIONS}
    tokens |= {org: dev_token(signing_key, org, "partner") for org in PARTNERS}
    tokens[ADMIN] = dev_token(signing_key, ADMIN, "admin", ("admin",))
    return tokens


def write_dev_tokens(path: Path, tokens: dict[str, str]) -> None:
    path.write_text(json.dumps(tokens, indent=2) + "\n")
    path.chmod(0o600)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def run(urls: dict[str, str], broker: str, tokens: dict[str, str], out=print) -> list[dict[str, Any]]:
    client = httpx.Client(timeout=10)
    corp = _auth(tokens[CORPORATIONS[0]])

    def routing_ready() -> bool:
        r = client.get(urls["referral"] + "/v1/routing/partners", headers=_auth(tokens[ADMIN]))
        return r.status_code == 200 and sum(len(p["agreements"]) for p in r.json()) >= len(PARTNERS)

    wait_until(routing_ready, 30, "referral to learn the partners' agreements")

    journeys = []
    for title, body, expected_parts in (("Geluidsoverlast", NUISANCE, 1), ("Verward persoon", CONFUSED_PERSON, 2)):
        t0 = time.monotonic()
        created = client.post(urls["intake"] + "/v1/cases", json=body, headers=corp)
        created.raise_for_status()
        case_id = created.json()["case_id"]

        def parts_requested() -> list[dict[str, Any]] | None:
            case = client.get(f"{urls['intake']}/v1/cases/{case_id}", headers=corp).json()
            return case["parts"] if len(case["parts"]) >= expected_parts else None

        parts = wait_until(parts_requested, 30, f"referrals of case {case_id}")
        seen_by = {}
        for part in parts:
            partner_id = part["partner_id"]
            delivered = wait_until(lambda: _in_partner_list(client, urls, tokens[partner_id], part["referral_id"]),
                                   30, f"delivery to {partner_id}")
            seen_by[partner_id] = sorted(delivered["payload"]["details"])
            if partner_id == KAFKA_NATIVE:
                asyncio.run(_accept_on_kafka(broker, partner_id, part["referral_id"]))
            else:
                client.post(f"{urls['partners']}/v1/referrals/{part['referral_id']}/accept",
                            json={"note": "Opgepakt door de demo"}, headers=_auth(tokens[partner_id])).raise_for_status()

        def all_accepted() -> dict[str, Any] | None:
            case = client.get(f"{urls['intake']}/v1/cases/{case_id}", headers=corp).json()
            return case if case["parts"] and all(p["status"] == "accepted" for p in case["parts"]) else None

        case = wait_until(all_accepted, 30, f"acceptance of case {case_id}")
        # closed at the end, so a next `make run` opens new cases instead of adding repeat
        # complaints to these (intake's repeat window)
        client.post(f"{urls['intake']}/v1/cases/{case_id}/close", json={"outcome": "doorverwezen"},
                    headers=corp).raise_for_status()
        journeys.append({"title": title, "case": case, "seen_by": seen_by, "seconds": time.monotonic() - t0})
        _print_journey(out, title, case, seen_by, time.monotonic() - t0)
    return journeys


def _in_partner_list(client: httpx.Client, urls: dict[str, str], token: str, referral_id: str) -> dict[str, Any] | None:
    """The partner's own list (polling it logs reads of its own referrals only)."""
    listed = client.get(f"{urls['partners']}/v1/referrals", params={"status": "delivered"}, headers=_auth(token))
    listed.raise_for_status()
    return next((r for r in listed.json() if r["referral_id"] == referral_id), None)


async def _accept_on_kafka(broker: str, partner_id: str, referral_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all")
    await producer.start()
    try:
        command = AcceptReferral(referral_id=referral_id, code="aangenomen", note="Opgepakt via Kafka")
        await producer.send_and_wait(Topics.partner_responses(partner_id), encode(command, f"urn:nld:partner:{partner_id}"),
                                     key=referral_id.encode(), headers=[("content-type", CONTENT_TYPE.encode())])
    finally:
        await producer.stop()


def _print_journey(out, title: str, case: dict[str, Any], seen_by: dict[str, list[str]], seconds: float) -> None:
    out(f"\n── {title}: case {case['case_id']} ({case['category']}, {case['severity']}, {case['buurt_code']})")
    out(f"   1. intake      POST /v1/cases by {case['corporation_id']} → case.opened, complaint.received")
    for i, part in enumerate(case["parts"], start=2):
        out(f"   {i}. referral    referral.requested → {part['partner_id']} ({part['partner_type']}),"
            f" purpose {part['purpose']}, respond by {part['respond_by'][:16]}")
        out(f"      partners    delivered to {Topics.partner_inbox(part['partner_id'])};"
            f" the partner sees only: {', '.join(seen_by[part['partner_id']])}")
        out(f"      partner     {part['status']} ({part.get('response_label') or part.get('reason') or ''})")
    out(f"   ✓ all parts accepted, seen by intake in {seconds:.2f}s; the corporation closed the case")
