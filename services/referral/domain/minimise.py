"""Field-level minimisation and the region a case belongs to."""

from contracts.events import CaseDetails


def minimise(details: CaseDetails, allowed_fields: set[str]) -> CaseDetails:
    """A partner receives only what its agreement allows, decided when the referral is made."""
    return details.restricted_to(allowed_fields)


def region_of(buurt_code: str) -> str:
    """CBS buurt code BU<gemeente 4><wijk 2><buurt 2> → gemeente code GM<4>."""
    return "GM" + buurt_code[2:6]
