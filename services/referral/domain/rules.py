"""Routing rules as data: a YAML file per region or covenant.

A rule matches on category, severity, buurt/wijk, repeat count and household signals;
each match refers the case to partner types with a purpose (doel), a legal basis
(grondslag) and two deadlines. A route may list alternatives, tried in order when a
partner declines. The file also holds the escalation ladders per category family.
"""

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.events import CaseOpened, PartnerType, Severity


class Deadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    working_days: int | None = Field(default=None, ge=0, le=365)
    hours: int | None = Field(default=None, ge=1, le=24 * 30)

    @model_validator(mode="after")
    def _one_unit(self) -> "Deadline":
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        return self


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    category: list[str] | None = None
    severity: list[Severity] | None = None
    buurt: list[str] | None = None
    wijk: list[str] | None = None
    min_repeat: int | None = Field(default=None, ge=1)
    min_arrears_months: int | None = Field(default=None, ge=0)
    care_signal: bool | None = Field(default=None, description="household signal: a care signal is (not) present")

    def matches(self, case: CaseOpened, repeat_count: int = 1) -> bool:
        details = case.details or CaseDetails()  # no details (erased): only the codes can match
        arrears = details.arrears
        return (
            (self.category is None or case.category in self.category)
            and (self.severity is None or case.severity in self.severity)
            and (self.buurt is None or case.buurt_code in self.buurt)
            and (self.wijk is None or case.wijk_code in self.wijk)
            and (self.min_repeat is None or repeat_count >= self.min_repeat)
            and (self.min_arrears_months is None or (arrears is not None and arrears.months >= self.min_arrears_months))
            and (self.care_signal is None or (details.care_signal is not None) == self.care_signal)
        )


class Alternative(BaseModel):
    """Who takes the part when the route's partners decline; purpose and basis default to the route's."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    partner_type: PartnerType
    purpose: str | None = Field(default=None, min_length=1)
    legal_basis: str | None = Field(default=None, min_length=1)


class Option(BaseModel):
    """One concrete way to fill a route: a partner type with its purpose and legal basis."""

    model_config = ConfigDict(frozen=True)
    partner_type: PartnerType
    purpose: str
    legal_basis: str


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    partner_type: PartnerType
    purpose: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    respond: Deadline
    resolve: Deadline
    alternatives: list[Alternative] = Field(default_factory=list)

    def options(self) -> list[Option]:
        """The route's own partner type first, then its alternatives in order."""
        return [Option(partner_type=self.partner_type, purpose=self.purpose, legal_basis=self.legal_basis)] + [
            Option(partner_type=a.partner_type, purpose=a.purpose or self.purpose,
                   legal_basis=a.legal_basis or self.legal_basis)
            for a in self.alternatives
        ]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    match: Match
    refer: list[Route] = Field(min_length=1)


LEVELS = ("coordinator", "casusoverleg", "zorg_en_veiligheidshuis", "woonoverlast")


class Owner(BaseModel):
    """The organisation that owns a ladder step: a partner type with an agreement for the purpose."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    partner_type: PartnerType
    purpose: str = Field(min_length=1)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    level: str = Field(pattern="^(" + "|".join(LEVELS) + ")$")
    owner: Owner | None = Field(default=None, description="absent: the referral's own partner (its coordinator)")
    next_after: Deadline | None = Field(default=None, description="unresolved this long → the next step")


class RepeatThreshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    complaints: int = Field(ge=2, description="repeat_count (intake counts one address and family in 90 days)")
    level: str = Field(pattern="^(" + "|".join(LEVELS) + ")$")


class Ladder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    categories: list[str] = Field(min_length=1, description="category patterns, e.g. overlast.*")
    steps: list[Step] = Field(min_length=1)
    repeat_threshold: RepeatThreshold | None = None

    @model_validator(mode="after")
    def _levels_once(self) -> "Ladder":
        levels = [s.level for s in self.steps]
        if len(set(levels)) != len(levels):
            raise ValueError("a level may appear only once in a ladder")
        if self.repeat_threshold and self.repeat_threshold.level not in levels:
            raise ValueError(f"repeat_threshold.level {self.repeat_threshold.level} is not a step of this ladder")
        return self

    def covers(self, category: str) -> bool:
        return any(fnmatchcase(category, pattern) for pattern in self.categories)

    def index_of(self, level: str) -> int | None:
        return next((i for i, s in enumerate(self.steps) if s.level == level), None)

    def entry(self, level: str) -> int:
        """Where a trigger enters the ladder: at its level, or the first step above it."""
        index = self.index_of(level)
        if index is not None:
            return index
        rank = LEVELS.index(level)
        return next((i for i, s in enumerate(self.steps) if LEVELS.index(s.level) > rank), len(self.steps) - 1)


DEFAULT_LADDER = Ladder(
    name="default", categories=["*"],
    steps=[Step(level="coordinator", next_after=Deadline(working_days=5)),
           Step(level="casusoverleg", owner=Owner(partner_type=PartnerType.GEMEENTE, purpose="casusoverleg"),
                next_after=Deadline(working_days=10)),
           Step(level="zorg_en_veiligheidshuis",
                owner=Owner(partner_type=PartnerType.GEMEENTE, purpose="casusoverleg"))],
)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    region: str = Field(pattern=r"^GM[0-9]{4}$", description="gemeente code")
    rules: list[Rule]
    ladders: list[Ladder] = Field(default_factory=list, description="first covering ladder wins")

    @model_validator(mode="after")
    def _unique_rule_names(self) -> "RuleSet":
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique (a referral remembers its rule by name)")
        return self

    def routes_for(self, case: CaseOpened, repeat_count: int = 1) -> list[Route]:
        """Every matching rule's routes; the first route per partner type wins."""
        return [route for _, route in self.matching_routes(case, repeat_count)]

    def matching_routes(self, case: CaseOpened, repeat_count: int = 1) -> list[tuple[str, Route]]:
        """As routes_for, with the name of the rule each route came from."""
        chosen: dict[PartnerType, tuple[str, Route]] = {}
        for rule in self.rules:
            if rule.match.matches(case, repeat_count):
                for route in rule.refer:
                    chosen.setdefault(route.partner_type, (rule.name, route))
        return list(chosen.values())

    def route(self, rule_name: str, partner_type: str) -> Route | None:
        rule = next((r for r in self.rules if r.name == rule_name), None)
        return next((r for r in rule.refer if r.partner_type == partner_type), None) if rule else None

    def ladder_for(self, category: str) -> Ladder:
        return next((ladder for ladder in self.ladders if ladder.covers(category)), DEFAULT_LADDER)


class RuleFileError(ValueError):
    pass


def load_rules(path: Path) -> RuleSet:
    """Parse and validate one rule file; errors name the file, line and problem."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "?"
        raise RuleFileError(f"{path}: {line}: {getattr(exc, 'problem', exc)}") from exc
    except OSError as exc:
        raise RuleFileError(f"{path}: {exc.strerror}") from exc
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        root = yaml.compose(text)
        problems = "; ".join(
            f"line {_line_of(root, e['loc'])}: {'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}"
            for e in exc.errors())
        raise RuleFileError(f"{path}: {problems}") from exc


def _line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node on the error's path."""
    if node is None:
        return 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1
