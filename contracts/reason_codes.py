"""What partners say back, as codes: the one list of reason codes per response kind, with
the Dutch label the corporation and other partners see (DESIGN.md, "Both directions").

A partner's own words (free text) can be health data (AVG art. 9); they go only to the
recipients its agreement names (`TextRecipient`), by default nobody. Everyone else sees
the code and its label: the corporation learns that GGZ is "in behandeling", never why.

Adding a code is a compatible change (the event schemas document the list, they do not
enumerate it); consumers show an unknown code as itself. Removing or redefining a code is
not: give it a new name instead.
"""

from enum import StrEnum

REASON_CODE = r"^[a-z][a-z0-9_]{1,63}$"


class ResponseKind(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    PROGRESS = "progress"
    COMPLETE = "complete"


# code -> label, per kind. `overig` exists in every kind: a message from before codes
# (schema v1) reads as `overig` (accept: `aangenomen`), without its text.
REASON_CODES: dict[ResponseKind, dict[str, str]] = {
    ResponseKind.ACCEPT: {
        "aangenomen": "aangenomen",
        "aangenomen_wachtlijst": "aangenomen, op de wachtlijst",
        "al_bekend": "aangenomen, al bij ons bekend",
        "overig": "aangenomen (overig)",
    },
    ResponseKind.DECLINE: {
        "geen_capaciteit": "afgewezen: geen capaciteit",
        "buiten_werkgebied": "afgewezen: buiten ons werkgebied",
        "niet_passend": "afgewezen: past niet bij ons aanbod",
        "al_in_zorg_elders": "afgewezen: al in zorg bij een andere organisatie",
        "geen_toestemming": "afgewezen: geen toestemming van betrokkene",
        "onvoldoende_informatie": "afgewezen: onvoldoende informatie",
        "overig": "afgewezen (overig)",
    },
    ResponseKind.PROGRESS: {
        "contact_gelegd": "contact gelegd",
        "geen_contact": "nog geen contact kunnen leggen",
        "huisbezoek_gepland": "huisbezoek gepland",
        "in_behandeling": "in behandeling",
        "wacht_op_betrokkene": "wacht op betrokkene",
        "overig": "in uitvoering (overig)",
    },
    ResponseKind.COMPLETE: {
        "opgelost": "afgerond: opgelost",
        "deels_opgelost": "afgerond: deels opgelost",
        "niet_opgelost": "afgerond: niet opgelost",
        "doorverwezen": "afgerond: doorverwezen",
        "hulp_geweigerd": "afgerond: betrokkene wil geen hulp",
        "contact_verloren": "afgerond: contact verloren",
        "overig": "afgerond (overig)",
    },
}
LEGACY_CODE: dict[ResponseKind, str] = {kind: "overig" for kind in ResponseKind} | {ResponseKind.ACCEPT: "aangenomen"}

# Why referral moved a case up its ladder (EscalationRaised.reason_code).
ESCALATION_REASONS: dict[str, str] = {
    "geen_regel": "geen routeringsregel voor deze casus",
    "geen_partner": "geen partner met een geldig convenant",
    "afgewezen_geen_alternatief": "afgewezen, geen andere partner",
    "termijn_verstreken": "termijn verstreken",
    "niet_opgelost_op_niveau": "niet op tijd opgelost op dit niveau",
    "herhaalde_meldingen": "drempel herhaalde meldingen bereikt",
}


class TextRecipient(StrEnum):
    """Who an agreement may let a partner's free text reach (besides the partner itself)."""

    CORPORATION = "corporation"  # the housing corporation that owns the case
    # whoever owns an escalation about the referral, by ladder level
    COORDINATOR = "coordinator"
    CASUSOVERLEG = "casusoverleg"
    ZORG_EN_VEILIGHEIDSHUIS = "zorg_en_veiligheidshuis"
    WOONOVERLAST = "woonoverlast"


def label(kind: ResponseKind | str, code: str) -> str:
    """The Dutch label of a code (the code itself if this list does not know it)."""
    return REASON_CODES.get(ResponseKind(kind), {}).get(code, code)


def check_code(kind: ResponseKind | str, code: str) -> str:
    """`code` if it is on the list for `kind`; ValueError naming the allowed codes otherwise."""
    allowed = REASON_CODES[ResponseKind(kind)]
    if code not in allowed:
        raise ValueError(f"unknown {ResponseKind(kind).value} code {code!r}; one of {', '.join(allowed)}")
    return code


def with_legacy_code(kind: ResponseKind, data: object) -> object:
    """A version 1 message (no code) reads as the legacy code of its kind."""
    if isinstance(data, dict) and "code" not in data:
        return {**data, "code": LEGACY_CODE[kind]}
    return data


def code_schema(kind: ResponseKind) -> dict[str, object]:
    """For the JSON Schemas: the list as an annotation (not an enum, so adding a code stays compatible)."""
    return {"x-reason-codes": dict(REASON_CODES[kind]), "examples": [next(iter(REASON_CODES[kind]))]}
