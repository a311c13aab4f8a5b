"""The escalation ladder and decline rerouting as pure decisions (no I/O, no clock)."""

from dataclasses import dataclass

from services.referral.domain.rules import Ladder, Option, Route, Step

# A referral's partner has not acted yet in these states.
AWAITING_RESPONSE = ("requested",)
AWAITING_RESULT = ("requested", "accepted", "progressed")


def breached(deadline: str, referral_status: str) -> bool:
    """Did the partner miss this deadline? `respond`: no accept/decline; `resolve`: not completed."""
    waiting = AWAITING_RESPONSE if deadline == "respond" else AWAITING_RESULT
    return referral_status in waiting


@dataclass(frozen=True)
class Rung:
    """Where a case stands on its ladder."""

    ladder: Ladder
    index: int

    @property
    def step(self) -> Step:
        return self.ladder.steps[self.index]

    def above(self) -> "Rung | None":
        """The next step up, or None at the top."""
        return Rung(self.ladder, self.index + 1) if self.index + 1 < len(self.ladder.steps) else None


def missed_deadline(ladder: Ladder) -> Rung:
    """A missed deadline goes to the partner's coordinator (the ladder's first step)."""
    return Rung(ladder, ladder.entry("coordinator"))


def nobody_to_take_it(ladder: Ladder) -> Rung:
    """No (further) partner for a part: the municipality's casusoverleg."""
    return Rung(ladder, ladder.entry("casusoverleg"))


def repeat_threshold_reached(ladder: Ladder, repeat_count: int) -> Rung | None:
    threshold = ladder.repeat_threshold
    if threshold is None or repeat_count < threshold.complaints:
        return None
    return Rung(ladder, ladder.entry(threshold.level))


@dataclass(frozen=True)
class Candidate:
    option_index: int
    option: Option
    partner_id: str


def next_candidate(route: Route, partners_per_option: list[list[str]], tried: set[str]) -> Candidate | None:
    """After a decline: the next partner for the route that has not had it yet — other partners of
    the route's own type first, then the alternatives in the order the rule lists them."""
    for index, (option, partners) in enumerate(zip(route.options(), partners_per_option, strict=True)):
        for partner_id in partners:
            if partner_id not in tried:
                return Candidate(index, option, partner_id)
    return None
