"""Routing rules as data: a YAML file per region or covenant.

A rule matches on category, severity, buurt/wijk and repeat count; each match refers the
case to partner types with a purpose (doel), a legal basis (grondslag) and two deadlines.
"""

from pathlib import Path

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

    def matches(self, case: CaseOpened, repeat_count: int = 1) -> bool:
        arrears = case.details.arrears
        return (
            (self.category is None or case.category in self.category)
            and (self.severity is None or case.severity in self.severity)
            and (self.buurt is None or case.buurt_code in self.buurt)
            and (self.wijk is None or case.wijk_code in self.wijk)
            and (self.min_repeat is None or repeat_count >= self.min_repeat)
            and (self.min_arrears_months is None or (arrears is not None and arrears.months >= self.min_arrears_months))
        )


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    partner_type: PartnerType
    purpose: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    respond: Deadline
    resolve: Deadline


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    match: Match
    refer: list[Route] = Field(min_length=1)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    region: str = Field(pattern=r"^GM[0-9]{4}$", description="gemeente code")
    rules: list[Rule]

    def routes_for(self, case: CaseOpened, repeat_count: int = 1) -> list[Route]:
        """Every matching rule's routes; the first route per partner type wins."""
        chosen: dict[PartnerType, Route] = {}
        for rule in self.rules:
            if rule.match.matches(case, repeat_count):
                for route in rule.refer:
                    chosen.setdefault(route.partner_type, route)
        return list(chosen.values())


class RuleFileError(ValueError):
    pass


def load_rules(path: Path) -> RuleSet:
    """Parse and validate one rule file; errors name the file, line (when known) and problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "?"
        raise RuleFileError(f"{path}: {line}: {getattr(exc, 'problem', exc)}") from exc
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RuleFileError(f"{path}: {problems}") from exc
