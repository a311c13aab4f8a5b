"""Breaking-change detection between two JSON Schemas of the same event version.

Within one version a producer may only add optional fields (DESIGN.md, Events). Anything
an existing consumer or an event already in the log could trip over is breaking: a
property removed or renamed, a property whose type/format/enum changed (also inside
nested models), a required-ness change, or a new required property. Annotations
(title, description, examples, default) and value constraints are not compared.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
_COMPARED = ("format", "const")


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Human-readable reasons why `new` cannot replace `old` under the same version."""
    out: list[str] = []
    _diff(old, new, "", old, new, out, set())
    return out


def _resolve(schema: Schema, root: Schema) -> Schema:
    # Follow local refs ("#/$defs/X", "#/components/schemas/X"); unwrap a lone allOf.
    for _ in range(32):
        if "$ref" in schema:
            node: Any = root
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        elif len(schema.get("allOf", ())) == 1:
            schema = schema["allOf"][0]
        else:
            return schema
    raise ValueError("$ref chain too deep")


def _kind(s: Schema) -> str:
    if "anyOf" in s or "oneOf" in s:
        return "union"
    t = s.get("type")
    if isinstance(t, list):
        return "|".join(sorted(t))
    if t:
        return str(t)
    if "properties" in s:
        return "object"
    return "any" if not s.get("enum") else "enum"


def _diff(old: Schema, new: Schema, path: str, old_root: Schema, new_root: Schema,
          out: list[str], seen: set[tuple[int, int]]) -> None:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    key = (id(old), id(new))
    if key in seen:  # recursive models
        return
    seen.add(key)
    where = path or "<root>"
    ok, nk = _kind(old), _kind(new)
    if ok != nk:
        out.append(f"{where}: type changed from {ok} to {nk}")
        return
    for kw in _COMPARED:
        if old.get(kw) != new.get(kw):
            out.append(f"{where}: {kw} changed from {old.get(kw)!r} to {new.get(kw)!r}")
    if "enum" in old or "enum" in new:
        o, n = old.get("enum") or [], new.get("enum") or []
        if o != n:
            out.append(f"{where}: enum changed (added {[v for v in n if v not in o]}, "
                       f"removed {[v for v in o if v not in n]})")
    if ok == "union":
        _diff_union(old, new, path, old_root, new_root, out, seen)
    elif ok == "array":
        _diff(old.get("items", {}), new.get("items", {}), f"{path}[]", old_root, new_root, out, seen)
    elif ok == "object":
        _diff_object(old, new, path, old_root, new_root, out, seen)


def _diff_object(old: Schema, new: Schema, path: str, old_root: Schema, new_root: Schema,
                 out: list[str], seen: set[tuple[int, int]]) -> None:
    op, np = old.get("properties", {}), new.get("properties", {})
    oreq, nreq = set(old.get("required", ())), set(new.get("required", ()))
    removed = [p for p in op if p not in np]
    added = [p for p in np if p not in op]
    prefix = f"{path}." if path else ""
    for name in removed:
        # A rename shows up as one removal plus one addition.
        hint = f" (renamed to {added[0]!r}?)" if len(removed) == 1 and len(added) == 1 else ""
        out.append(f"{prefix}{name}: property removed{hint}")
    for name in added:
        if name in nreq:
            out.append(f"{prefix}{name}: new required property")
    for name in op:
        if name not in np:
            continue
        if name in oreq and name not in nreq:
            out.append(f"{prefix}{name}: no longer required")
        elif name in nreq and name not in oreq:
            out.append(f"{prefix}{name}: became required")
        _diff(op[name], np[name], prefix + name, old_root, new_root, out, seen)
    oa, na = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if isinstance(oa, dict) and isinstance(na, dict):  # dict[str, X]
        _diff(oa, na, f"{path}{{*}}", old_root, new_root, out, seen)
    elif oa != na:
        out.append(f"{path or '<root>'}: additionalProperties changed from {oa!r} to {na!r}")


def _diff_union(old: Schema, new: Schema, path: str, old_root: Schema, new_root: Schema,
                out: list[str], seen: set[tuple[int, int]]) -> None:
    # Pair the alternatives by kind (e.g. object|null): same kinds, then compare each pair.
    def by_kind(s: Schema, root: Schema) -> dict[str, list[Schema]]:
        groups: dict[str, list[Schema]] = {}
        for alt in s.get("anyOf") or s.get("oneOf") or ():
            groups.setdefault(_kind(_resolve(alt, root)), []).append(alt)
        return groups

    def show(groups: dict[str, list[Schema]]) -> str:
        return "|".join(sorted(groups, key=lambda k: (k == "null", k)))

    og, ng = by_kind(old, old_root), by_kind(new, new_root)
    if show(og) != show(ng) or any(len(og[k]) != len(ng[k]) for k in og):
        out.append(f"{path or '<root>'}: type changed from {show(og)} to {show(ng)}")
        return
    for k in og:
        for o, n in zip(og[k], ng[k], strict=True):
            _diff(o, n, path, old_root, new_root, out, seen)
