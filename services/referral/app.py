"""Composition root: referral's settings, rules, runtime, event routers and HTTP app."""

import logging
from pathlib import Path

from fastapi import FastAPI

from runtime.http import create_app
from runtime.service import ServiceRuntime
from services.referral.config import ReferralSettings
from services.referral.domain.rules import RuleFileError, RuleSet, load_rules
from services.referral.entrypoints import events, http
from services.referral.service_layer.handlers import Rulebook

log = logging.getLogger(__name__)


def load_rulebook(rules_dir: Path) -> dict[str, RuleSet]:
    """Every valid rule file in the folder; an invalid one is refused and named."""
    rule_sets: dict[str, RuleSet] = {}
    for path in sorted(rules_dir.glob("*.y*ml")):
        try:
            rule_set = load_rules(path)
        except RuleFileError as exc:
            log.error("rule file refused: %s", exc)
            continue
        rule_sets[rule_set.region] = rule_set
    return rule_sets


def build(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()
    rulebook = Rulebook(load_rulebook(settings.rules_dir))
    rt = ServiceRuntime(settings, Path(__file__).parent / "migrations", events.routers(rulebook))
    return create_app(rt, "samenwijk referral", [http.router])
