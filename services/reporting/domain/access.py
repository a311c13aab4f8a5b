"""Who may read which figures (issue 11): neighbourhood figures for everyone signed in; a
corporation's own spend and its own professionals' caseload only for that corporation;
each partner only its own partner figures."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reader:
    organisation_id: str
    org_type: str  # corporation | partner | admin (an admin-type token without the admin scope is a partner here)

    @classmethod
    def of(cls, principal: Any) -> "Reader":
        org_type = principal.org_type
        if org_type == "admin" and "admin" not in principal.scopes:
            org_type = "partner"  # neighbourhood figures only
        return cls(principal.organisation_id, org_type)

    def sees_spend_of(self, corporation_id: str) -> bool:
        """A corporation its own; the platform's beheer (admin) all; partners and police none."""
        return self.org_type == "admin" or (self.org_type == "corporation" and self.organisation_id == corporation_id)

    @property
    def sees_spend(self) -> bool:
        return self.org_type in ("admin", "corporation")

    @property
    def sees_caseload(self) -> bool:
        return self.org_type == "corporation"

    def corporation_scope(self) -> str:
        if not self.sees_caseload:
            raise PermissionError("caseload per professional is only for the professional's own corporation")
        return self.organisation_id

    def owns_building(self, owners: list[str]) -> bool:
        """Whether this reader may see which building a hotspot is: a corporation with cases there."""
        return self.org_type == "corporation" and self.organisation_id in owners

    def partner_scope(self) -> str | None:
        """None: every partner's figures (corporations, admin); a partner only its own."""
        return self.organisation_id if self.org_type == "partner" else None
