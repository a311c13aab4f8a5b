"""The rule sets in force, loaded from a folder of rule files and reloaded when they change.

A file that fails validation is refused (file, line and problem are reported) and the last
good version of that file stays in force; a removed file takes its rules with it.
"""

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from services.referral.domain.rules import RuleFileError, RuleSet, load_rules

log = logging.getLogger(__name__)


@dataclass
class ReloadReport:
    loaded: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # file → problem
    removed: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)


class Rulebook:
    def __init__(self, rules_dir: Path | None = None, rule_sets: dict[str, RuleSet] | None = None) -> None:
        self.rules_dir = rules_dir
        self._by_file: dict[Path, RuleSet] = {}
        self._seen: dict[Path, float] = {}  # file → mtime last read (good or not)
        self.problems: dict[Path, str] = {}
        self._lock = threading.Lock()  # the watcher and the admin endpoint may reload at once
        self.by_region: dict[str, RuleSet] = dict(rule_sets or {})
        if rules_dir is not None:
            self.reload(force=True)

    def for_region(self, region: str) -> RuleSet | None:
        return self.by_region.get(region)

    def reload(self, force: bool = False) -> ReloadReport:
        """Read every new or changed rule file (all of them with `force`)."""
        with self._lock:
            return self._reload(force)

    def _reload(self, force: bool) -> ReloadReport:
        report = ReloadReport()
        if self.rules_dir is None:
            return report
        present = {p: p.stat().st_mtime for p in sorted(self.rules_dir.glob("*.y*ml"))}
        for path, mtime in present.items():
            if not force and self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            try:
                rule_set = load_rules(path)
                clash = next((str(p) for p, rs in self._by_file.items() if p != path and rs.region == rule_set.region),
                             None)
                if clash:
                    raise RuleFileError(f"{path}: line 1: region {rule_set.region} is already ruled by {clash}")
            except RuleFileError as exc:
                log.error("rule file refused, last good rules stay: %s", exc)
                self.problems[path] = str(exc)
                report.refused[str(path)] = str(exc)
                continue
            self.problems.pop(path, None)
            self._by_file[path] = rule_set
            report.loaded.append(str(path))
        for path in [p for p in self._by_file if p not in present]:
            del self._by_file[path]
            self._seen.pop(path, None)
            report.removed.append(str(path))
        self.by_region = {rs.region: rs for rs in self._by_file.values()}
        report.regions = sorted(self.by_region)
        if report.loaded or report.removed:
            log.info("rules in force for %s (loaded %s, removed %s)", report.regions, report.loaded, report.removed)
        return report
