"""Print the span tree of one case from the local span file (the no-collector default).

    python -m samenwijk_dev trace <case-id> [--file .run/traces.jsonl]
"""

import json
from collections import defaultdict
from pathlib import Path


def load_case_spans(path: Path, case_id: str) -> list[dict]:
    spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    traces = {s["trace_id"] for s in spans if s["attributes"].get("samenwijk.case_id") == case_id}
    return [s for s in spans if s["trace_id"] in traces]


def render(spans: list[dict]) -> list[str]:
    if not spans:
        return ["no spans for that case (is SAMENWIJK_TRACE_FILE set, and has the batch been flushed?)"]
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict]] = defaultdict(list)
    for s in spans:
        parent = s["parent_id"] if s["parent_id"] in by_id else None
        children[parent].append(s)
    t0 = min(s["start_ns"] for s in spans)
    lines = [f"trace {spans[0]['trace_id']}  (offset from the first span, duration)"]

    def walk(span: dict, depth: int) -> None:
        start = (span["start_ns"] - t0) / 1e6
        duration = (span["end_ns"] - span["start_ns"]) / 1e6
        lines.append(f"{start:9.1f} ms {duration:8.1f} ms  {'  ' * depth}{span['service']:<10} {span['name']}")
        for child in sorted(children[span["span_id"]], key=lambda s: s["start_ns"]):
            walk(child, depth + 1)

    for root in sorted(children[None], key=lambda s: s["start_ns"]):
        walk(root, 0)
    return lines
