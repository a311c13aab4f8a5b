"""What the load submits and what each submission must lead to.

A unit is one address: most get one complaint (a new case), some get three in a row (a
repeat trio: one case whose third complaint crosses the repeat threshold and must raise
exactly one escalation). Each complaint carries a marker in its description, so the
checker finds it in intake's database whatever the client saw."""

import random
from dataclasses import dataclass, field

from samenwijk_dev import demo

# kind → the partners the region's rules must refer its case to (and how they answer)
EXPECTED_PARTNERS = {
    "overlast": ("buurtbemiddeling-amsterdam",),
    "verward": ("ggz-noord", "wijkteam-noord"),
    "vervuiling": ("wijkteam-noord", "ggz-noord"),
}
KAFKA_PARTNERS = ("wijkteam-noord",)
HTTP_PARTNERS = ("buurtbemiddeling-amsterdam", "ggz-noord")
REPEAT_SIZE = 3  # the overlast ladder's repeat_threshold (services/referral/rules)
CORPORATION = demo.CORPORATIONS[1]  # the demo warm-up uses the other one


@dataclass
class Submission:
    index: int  # global, also the marker
    unit: int
    kind: str
    position: int  # 0 for a new case, 1.. for repeats of the unit
    key: str  # Idempotency-Key
    due: float  # seconds after the load's start
    attempts: int = 0
    acked_at: float | None = None  # monotonic time of the 201
    case_id: str | None = None
    gave_up: str | None = None
    retry_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class Unit:
    index: int
    kind: str
    repeat: bool
    submissions: list[Submission]

    @property
    def partners(self) -> tuple[str, ...]:
        return EXPECTED_PARTNERS[self.kind]


def marker(run_tag: str, index: int) -> str:
    return f"[chaos {run_tag} #{index}]"


def address(unit: int) -> dict:
    """A unit's own address: 9999 house numbers × 676 postcodes."""
    letters = divmod(unit // 9999, 26)
    return {"postcode": f"1024{chr(65 + letters[0] % 26)}{chr(65 + letters[1])}", "huisnummer": 1 + unit % 9999}


def body(run_tag: str, sub: Submission) -> dict:
    base = {"overlast": demo.NUISANCE, "verward": demo.CONFUSED_PERSON}.get(sub.kind)
    if base is None:  # vervuiling: wijkteam and GGZ
        base = {**demo.NUISANCE, "category": "leefbaarheid.vervuiling"}
    return {**base, "address": address(sub.unit),
            "description": f"{base.get('description', '')} {marker(run_tag, sub.index)}".strip()}


def build(cases: int, rate: float, run_tag: str, seed: int = 12) -> list[Unit]:
    """`cases` submissions at `rate` per second: 10 % of units are repeat trios."""
    rng = random.Random(seed)
    units: list[Unit] = []
    index = 0
    while index < cases:
        u = len(units)
        repeat = rng.random() < 0.10 and cases - index >= REPEAT_SIZE
        kind = "overlast" if repeat else rng.choices(("overlast", "verward", "vervuiling"), (75, 15, 10))[0]
        subs = []
        for pos in range(REPEAT_SIZE if repeat else 1):
            subs.append(Submission(index, u, kind, pos, f"chaos-{run_tag}-{index}", index / rate))
            index += 1
        units.append(Unit(u, kind, repeat, subs))
    return units
