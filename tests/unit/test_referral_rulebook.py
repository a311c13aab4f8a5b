"""Rule reload: changed files are read again; an invalid file is refused with file, line and
problem, and the last good rules stay in force."""

import os
import shutil
from pathlib import Path

import pytest

from services.referral.service_layer.rulebook import Rulebook

SHIPPED = Path(__file__).resolve().parents[2] / "services" / "referral" / "rules" / "GM0363-amsterdam.yaml"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copy(SHIPPED, tmp_path / "GM0363-amsterdam.yaml")
    return tmp_path


def touch_later(path: Path, text: str) -> None:
    """Write and move the mtime on, so the change shows even within the clock's resolution."""
    stat = path.stat() if path.exists() else None
    path.write_text(text, encoding="utf-8")
    if stat:
        os.utime(path, (stat.st_atime + 10, stat.st_mtime + 10))


def test_loads_every_rule_file_at_start(rules_dir: Path) -> None:
    book = Rulebook(rules_dir)

    assert book.for_region("GM0363") is not None
    assert book.problems == {}


def test_an_invalid_change_is_refused_and_the_last_good_rules_stay(rules_dir: Path) -> None:
    book = Rulebook(rules_dir)
    good = book.for_region("GM0363")
    path = rules_dir / "GM0363-amsterdam.yaml"

    touch_later(path, path.read_text().replace("respond: {working_days: 2}", "respond: {working_days: -2}", 1))
    report = book.reload()

    assert book.for_region("GM0363") is good
    [(file, problem)] = report.refused.items()
    assert file == str(path)
    assert "line " in problem and "respond.working_days" in problem and "greater than or equal to 0" in problem


def test_a_valid_change_takes_effect_on_reload(rules_dir: Path) -> None:
    book = Rulebook(rules_dir)
    path = rules_dir / "GM0363-amsterdam.yaml"

    touch_later(path, path.read_text().replace("name: hennepkwekerij", "name: hennep"))
    report = book.reload()

    assert report.loaded == [str(path)]
    assert [r.name for r in book.for_region("GM0363").rules if r.name.startswith("hennep")] == ["hennep"]


def test_an_unchanged_file_is_not_read_again(rules_dir: Path) -> None:
    book = Rulebook(rules_dir)

    assert book.reload().loaded == []
    assert book.reload(force=True).loaded == [str(rules_dir / "GM0363-amsterdam.yaml")]


def test_a_second_file_for_the_same_region_is_refused(rules_dir: Path) -> None:
    shutil.copy(SHIPPED, rules_dir / "GM0363-copy.yaml")

    book = Rulebook(rules_dir)

    assert list(book.problems) == [rules_dir / "GM0363-copy.yaml"]
    assert "already ruled by" in book.problems[rules_dir / "GM0363-copy.yaml"]


def test_a_removed_file_takes_its_rules_with_it(rules_dir: Path) -> None:
    book = Rulebook(rules_dir)
    (rules_dir / "GM0363-amsterdam.yaml").unlink()

    report = book.reload()

    assert report.removed and book.for_region("GM0363") is None
