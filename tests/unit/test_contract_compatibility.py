"""The exported contracts match the models, and no model breaks its published schema.

Two separate checks on purpose: an added optional field only makes the files stale (run
`make schemas`), while a breaking change within a version fails the compatibility test.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contracts import export
from contracts.compat import breaking_changes
from contracts.envelope import Event
from contracts.events import CaseClosed, CaseDetails, CaseOpened

MODELS = export.all_models()


def test_exported_files_are_up_to_date() -> None:
    stale = export.stale()
    assert not stale, (
        "contracts/schemas or contracts/asyncapi.yaml do not match the event models; "
        "run `make schemas` (python -m contracts.export) and commit the result:\n  " + "\n  ".join(stale)
    )


def _published(model: type[Event]) -> list[tuple[str, dict[str, Any]]]:
    """The schema file of this model's version: as in the work tree and as in git HEAD."""
    path = export.schema_path(model)
    found = []
    if path.exists():
        found.append(("work tree", json.loads(path.read_text(encoding="utf-8"))))
    # HEAD too: regenerating the file in the work tree must not hide a breaking change.
    try:
        shown = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent,
                               capture_output=True, timeout=10, check=True)
        head = json.loads(shown.stdout)
        if all(head != old for _, old in found):
            found.append(("git HEAD", head))
    except (OSError, subprocess.SubprocessError, ValueError):
        pass  # not committed yet, or no git here
    return found


@pytest.mark.parametrize("model", MODELS, ids=export.schema_name)
def test_no_breaking_change_within_a_version(model: type[Event]) -> None:
    current = export.event_schema(model)
    for where, old in _published(model):
        reasons = breaking_changes(old, current)
        assert not reasons, (
            f"{model.__name__} breaks {export.schema_name(model)}.json ({where}); within a version only "
            f"optional fields may be added. Undo it, or raise {model.__name__}.version to "
            f"{model.version + 1}:\n  " + "\n  ".join(reasons)
        )


def test_no_published_version_above_the_models() -> None:
    # A lowered version would be compared against an older file and skip the newest contract.
    for model in MODELS:
        for path in export.SCHEMA_DIR.glob(f"{model.event_type}.v*.json"):
            version = int(path.name.removesuffix(".json").rsplit(".v", 1)[1])
            assert version <= model.version, f"{path.name} exists but {model.__name__}.version is {model.version}"


# --- the rule itself, on hand-made schemas ----------------------------------------------

def _obj(props: dict[str, Any], required: list[str], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    return schema | ({"$defs": defs} if defs else {})


UUID = {"type": "string", "format": "uuid"}
TEXT = {"type": "string"}
OPTIONAL_TEXT = {"anyOf": [TEXT, {"type": "null"}], "default": None}
BASE = _obj({"case_id": UUID, "outcome": TEXT}, ["case_id", "outcome"])


def test_identical_and_annotation_only_changes_are_compatible() -> None:
    assert breaking_changes(BASE, BASE) == []
    relabelled = _obj({"case_id": UUID | {"title": "Case", "description": "id"}, "outcome": TEXT},
                      ["case_id", "outcome"])
    assert breaking_changes(BASE, relabelled) == []


def test_removed_field_is_breaking() -> None:
    assert breaking_changes(BASE, _obj({"case_id": UUID}, ["case_id"])) == ["outcome: property removed"]


def test_renamed_field_is_breaking() -> None:
    renamed = _obj({"case_id": UUID, "result": TEXT}, ["case_id", "result"])
    reasons = breaking_changes(BASE, renamed)
    assert "outcome: property removed (renamed to 'result'?)" in reasons


def test_changed_type_is_breaking() -> None:
    assert breaking_changes(BASE, _obj({"case_id": UUID, "outcome": {"type": "integer"}}, ["case_id", "outcome"])) \
        == ["outcome: type changed from string to integer"]
    assert breaking_changes(BASE, _obj({"case_id": TEXT, "outcome": TEXT}, ["case_id", "outcome"])) \
        == ["case_id: format changed from 'uuid' to None"]
    assert breaking_changes(BASE, _obj({"case_id": UUID, "outcome": OPTIONAL_TEXT}, ["case_id", "outcome"])) \
        == ["outcome: type changed from string to union"]


def test_changed_enum_is_breaking() -> None:
    old = _obj({"level": {"type": "string", "enum": ["a", "b"]}}, ["level"])
    new = _obj({"level": {"type": "string", "enum": ["a", "b", "c"]}}, ["level"])
    assert breaking_changes(old, new) == ["level: enum changed (added ['c'], removed [])"]


def test_new_required_field_is_breaking() -> None:
    new = _obj({**BASE["properties"], "closed_by": TEXT}, ["case_id", "outcome", "closed_by"])
    assert breaking_changes(BASE, new) == ["closed_by: new required property"]


def test_required_ness_change_is_breaking() -> None:
    assert breaking_changes(BASE, _obj(BASE["properties"], ["case_id"])) == ["outcome: no longer required"]


def test_new_optional_field_is_compatible() -> None:
    new = _obj({**BASE["properties"], "note": OPTIONAL_TEXT}, ["case_id", "outcome"])
    assert breaking_changes(BASE, new) == []


def _with_details(details: dict[str, Any]) -> dict[str, Any]:
    ref = {"anyOf": [{"$ref": "#/$defs/Details"}, {"type": "null"}], "default": None}
    return _obj({"case_id": UUID, "details": ref}, ["case_id"], {"Details": details})


def test_nested_model_field_type_change_is_breaking() -> None:
    old = _with_details(_obj({"huisnummer": {"type": "integer"}}, ["huisnummer"]))
    new = _with_details(_obj({"huisnummer": {"type": "string"}}, ["huisnummer"]))
    assert breaking_changes(old, new) == ["details.huisnummer: type changed from integer to string"]


def test_nested_model_optional_addition_is_compatible() -> None:
    old = _with_details(_obj({"huisnummer": {"type": "integer"}}, ["huisnummer"]))
    new = _with_details(_obj({"huisnummer": {"type": "integer"}, "toevoeging": OPTIONAL_TEXT}, ["huisnummer"]))
    assert breaking_changes(old, new) == []


# --- the rule on real pydantic schemas against the published files -----------------------

def _published_schema(model: type[Event]) -> dict[str, Any]:
    return json.loads(export.schema_path(model).read_text(encoding="utf-8"))


def test_optional_addition_only_makes_the_files_stale() -> None:
    class CaseClosedPlus(CaseClosed):
        added_in_this_test: str | None = None

    new = export.event_schema(CaseClosedPlus) | {"title": CaseClosed.__name__}
    assert breaking_changes(_published_schema(CaseClosed), new) == []
    assert export.dump_json(new) != export.schema_path(CaseClosed).read_text(encoding="utf-8")


def test_real_breaking_changes_are_found() -> None:
    class CaseClosedInt(CaseClosed):
        case_id: int  # type: ignore[assignment]

    class Details(CaseDetails):
        household_ref: int | None = None  # type: ignore[assignment]

    class CaseOpenedNested(CaseOpened):
        details: Details | None = None  # type: ignore[assignment]

    assert breaking_changes(_published_schema(CaseClosed), export.event_schema(CaseClosedInt)) \
        == ["case_id: type changed from string to integer"]
    assert breaking_changes(_published_schema(CaseOpened), export.event_schema(CaseOpenedNested)) \
        == ["details.household_ref: type changed from string|null to integer|null"]


def test_export_writes_checks_and_keeps_old_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(export, "SCHEMA_DIR", tmp_path / "schemas")
    monkeypatch.setattr(export, "ASYNCAPI_FILE", tmp_path / "asyncapi.yaml")
    assert export.main(["--check"]) == 1 and not (tmp_path / "schemas").exists()
    old = tmp_path / "schemas" / "case.closed.v0.json"
    assert export.main([]) == 0
    old.write_text("{}\n")
    assert export.main(["--check"]) == 0
    assert old.exists()

    (tmp_path / "schemas" / "case.closed.v1.json").write_text(export.dump_json(_obj(BASE["properties"], [])))
    assert export.main(["--check"]) == 1
    assert "make schemas" in capsys.readouterr().err
    assert export.main([]) == 1  # would turn optional fields into required ones: refused
    assert "raise the event's version" in capsys.readouterr().err
