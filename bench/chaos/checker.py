"""After the run: read the four databases and every samenwijk topic, and say per stage
what each acknowledged submission led to (ok / lost / duplicated / unexpected), per topic
how many keys arrived out of their producer's order, and what the relays lost."""

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench.chaos.plan import CORPORATION, Unit
from contracts.topics import Topics
from samenwijk_dev.stack import SERVICES

STAGES = ("submitted", "case", "referral", "inbox", "answer", "case view", "reporting", "escalation")
REPEAT = "repeat threshold%"


@dataclass
class Stage:
    ok: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    notes: Counter = field(default_factory=Counter)

    def add(self, outcome: str, key: str, note: str | None = None) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome != "ok" and len(self.examples[outcome]) < 5:
            self.examples[outcome].append(key)
        if note:
            self.notes[note] += 1

    def count(self, n: int, key: str, note_lost: str | None = None) -> None:
        self.add("lost" if n == 0 else "ok" if n == 1 else "duplicated", key, note_lost if n == 0 else None)


@dataclass
class Record:
    partition: int
    offset: int
    key: str | None
    event_id: str | None
    type: str
    data: dict


async def read_topics(bootstrap: list[str], unreadable: list[str], timeout: float = 180) -> dict[str, list[Record]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=20_000)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while True:  # right after a broker fault the metadata can come back empty
            # consumer.topics() fetches the metadata but does not keep it: read it from the answer
            cluster = await consumer._client.fetch_all_metadata()
            topics = sorted(t for t in cluster.topics() if t.startswith("samenwijk."))
            tps = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
            if tps or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        if not tps:
            return {}
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: dict[str, list[Record]] = {t: [] for t in topics}
        remaining = {tp for tp in tps if end[tp] > 0}
        last_move = time.monotonic()
        while remaining and time.monotonic() < deadline and time.monotonic() - last_move < 30:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                last_move = time.monotonic()
                for r in records:
                    try:
                        event = json.loads(r.value)
                    except (ValueError, TypeError):
                        event = {}
                    out[tp.topic].append(Record(tp.partition, r.offset, r.key.decode() if r.key else None,
                                                str(event.get("id")) if event.get("id") else None,
                                                str(event.get("type", "")), event.get("data") or {}))
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        for tp in remaining:  # a broker that says it has records it cannot serve
            unreadable.append(f"{tp.topic}[{tp.partition}] at {await consumer.position(tp)} of {end[tp]}")
        return out
    finally:
        await consumer.stop()


async def read_databases(dsn: Callable[[str], str]) -> dict[str, dict[str, list[asyncpg.Record]]]:
    queries = {
        "intake": {
            "complaints": "SELECT cm.complaint_id::text, cm.case_id::text, cm.description FROM complaints cm"
                          " JOIN cases c USING (case_id) WHERE c.corporation_id = $1",
            "case_parts": "SELECT referral_id::text, case_id::text, partner_id, status FROM case_parts",
            "escalations": "SELECT escalation_id::text, case_id::text, reason FROM case_escalations",
        },
        "referral": {
            "referrals": "SELECT referral_id::text, case_id::text, partner_id, status FROM referrals",
            "escalations": "SELECT escalation_id::text, case_id::text, reason FROM escalations",
        },
        "partners": {"referrals": "SELECT referral_id::text, case_id::text, partner_id, status FROM referrals"},
        "reporting": {
            "cases": "SELECT case_id::text FROM case_facts",
            "complaints": "SELECT complaint_id::text, case_id::text FROM complaint_facts",
            "referrals": "SELECT referral_id::text, status FROM referral_facts",
            "escalations": "SELECT escalation_id::text, case_id::text FROM escalation_facts",
        },
    }
    common = {
        "outbox": "SELECT id, topic, value, published_at IS NOT NULL AS published FROM outbox",
        "dead_letter": "SELECT topic, reason FROM dead_letter",
        "parked": "SELECT event_type, reason FROM parked_event",
    }
    out: dict[str, dict[str, list[asyncpg.Record]]] = {}
    for db in SERVICES:
        conn = await asyncpg.connect(dsn(db))
        try:
            out[db] = {}
            for name, q in {**queries[db], **common}.items():
                args = (CORPORATION,) if "$1" in q else ()
                try:
                    out[db][name] = await conn.fetch(q, *args)
                except asyncpg.UndefinedTableError:
                    out[db][name] = []  # parked_event: an older schema
        finally:
            await conn.close()
    return out


@dataclass
class Report:
    stages: dict[str, Stage]
    order: dict[str, tuple[int, int]]  # topic → (keys out of order, keys checked)
    relay: dict[str, Counter]  # service → lost on the broker / stuck in the outbox
    redelivered: Counter  # topic → records seen more than once (harmless: the inbox dedupes)
    dead_letters: dict[str, Counter]
    parked: dict[str, int]
    other_escalations: Counter
    topic_records: int = 0
    unreadable: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return (any(s.lost or s.duplicated for s in self.stages.values())
                or any(v for v, _ in self.order.values()) or bool(self.unreadable))


def _event_id(value: bytes) -> str | None:
    try:
        return str(json.loads(value)["id"])
    except (ValueError, KeyError, TypeError):
        return None


def check(units: list[Unit], run_tag: str, db: dict, topics: dict[str, list[Record]]) -> Report:
    st = {name: Stage() for name in STAGES}
    pattern = re.compile(rf"\[chaos {re.escape(run_tag)} #(\d+)\]")

    # submitted → case (complaints found by the marker in their description)
    complaints_of: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for row in db["intake"]["complaints"]:
        m = pattern.search(row["description"] or "")
        if m:
            complaints_of[int(m.group(1))].append(row)
    case_of_unit: dict[int, str] = {}
    repeat_units: list[tuple[Unit, str]] = []
    for unit in units:
        for sub in unit.submissions:
            found = complaints_of.get(sub.index, [])
            if sub.acked_at is None:
                if sub.attempts:
                    st["submitted"].add("lost", f"#{sub.index}", f"client gave up ({sub.gave_up})")
                if found:
                    st["case"].add("unexpected", f"#{sub.index}", "stored although the client gave up")
                continue
            st["submitted"].add("ok", f"#{sub.index}")
            st["case"].count(len(found), f"#{sub.index} (case {sub.case_id})")
            if found and found[0]["case_id"] != sub.case_id:
                st["case"].add("unexpected", f"#{sub.index}", "stored under another case than answered")
            if sub.position == 0 and found:
                case_of_unit[unit.index] = found[0]["case_id"]
            elif sub.position > 0 and found and found[0]["case_id"] != case_of_unit.get(unit.index):
                st["case"].add("unexpected", f"#{sub.index}", "a repeat did not join its unit's case")
        if unit.repeat and unit.index in case_of_unit and all(s.acked_at for s in unit.submissions):
            repeat_units.append((unit, case_of_unit[unit.index]))
    our_cases = set(case_of_unit.values())

    # → referral (referral's database), per expected (case, partner)
    ref_rows: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in db["referral"]["referrals"]:
        ref_rows[row["case_id"]].append(row)
    expected: list[str] = []  # the referral ids the later stages follow
    for unit in units:
        case_id = case_of_unit.get(unit.index)
        if case_id is None:
            continue
        rows = ref_rows.get(case_id, [])
        for partner in unit.partners:
            mine = [r for r in rows if r["partner_id"] == partner]
            st["referral"].count(len(mine), f"case {case_id} → {partner}")
            expected += [r["referral_id"] for r in mine[:1]]
        for r in rows:
            if r["partner_id"] not in unit.partners:
                st["referral"].add("unexpected", f"case {case_id} → {r['partner_id']}")

    partners_rows = {r["referral_id"]: r for r in db["partners"]["referrals"]}
    referral_rows = {r["referral_id"]: r for r in db["referral"]["referrals"]}
    parts = {r["referral_id"]: r for r in db["intake"]["case_parts"]}
    # event ids per referral on the partner inboxes and on samenwijk.partners
    inbox_ids: dict[str, set[str]] = defaultdict(set)
    accepted_ids: dict[str, set[str]] = defaultdict(set)
    raised_on_inbox: set[str] = set()
    for topic, records in topics.items():
        for r in records:
            if topic.endswith(".inbox") and r.type.endswith(".referral.requested"):
                inbox_ids[str(r.data.get("referral_id"))].add(r.event_id or "")
            elif topic.endswith(".inbox") and r.type.endswith(".escalation.raised"):
                raised_on_inbox.add(str(r.data.get("escalation_id")))
            elif topic == Topics.PARTNERS and r.type.endswith(".referral.accepted"):
                accepted_ids[str(r.data.get("referral_id"))].add(r.event_id or "")

    reporting_refs = {r["referral_id"]: r for r in db["reporting"]["referrals"]}
    for rid in expected:
        in_db, on_topic = rid in partners_rows, bool(inbox_ids.get(rid))
        if in_db and on_topic:
            st["inbox"].add("ok" if len(inbox_ids[rid]) == 1 else "duplicated", f"referral {rid}")
        else:
            st["inbox"].add("lost", f"referral {rid}", "not in partners' database" if not in_db
                            else "not on the partner's inbox topic")
        p_ok = in_db and partners_rows[rid]["status"] == "accepted"
        r_ok = referral_rows[rid]["status"] == "accepted"
        if p_ok and r_ok:
            st["answer"].add("ok" if len(accepted_ids[rid]) <= 1 else "duplicated", f"referral {rid}")
        else:
            st["answer"].add("lost", f"referral {rid}", "partners never took an answer" if not p_ok
                             else "accepted in partners, not in referral")
        part = parts.get(rid)
        st["case view"].add("ok" if part and part["status"] == "accepted" else "lost", f"referral {rid}",
                            None if part else "no part in intake" if part is None else None)
        fact = reporting_refs.get(rid)
        st["reporting"].add("ok" if fact and fact["status"] == "accepted" else "lost", f"referral {rid}",
                            "no referral fact" if fact is None else None)
    for rid, part in parts.items():
        if part["case_id"] in our_cases and rid not in referral_rows:
            st["case view"].add("unexpected", f"referral {rid}", "a part for a referral referral never made")

    reporting_cases = {r["case_id"] for r in db["reporting"]["cases"]}
    reporting_complaints = Counter(r["complaint_id"] for r in db["reporting"]["complaints"])
    for case_id in our_cases:
        st["reporting"].add("ok" if case_id in reporting_cases else "lost", f"case {case_id}",
                            None if case_id in reporting_cases else "no case fact")
    for rows in complaints_of.values():
        for row in rows:
            st["reporting"].count(reporting_complaints.get(row["complaint_id"], 0), f"complaint {row['complaint_id']}",
                                  "no complaint fact")

    # escalations: exactly one repeat-threshold escalation per repeat trio, seen everywhere
    def by_case(rows):
        out = defaultdict(list)
        for r in rows:
            if r["reason"].startswith("repeat threshold"):
                out[r["case_id"]].append(r)
        return out

    ref_esc, intake_esc = by_case(db["referral"]["escalations"]), by_case(db["intake"]["escalations"])
    rep_esc = {r["escalation_id"] for r in db["reporting"]["escalations"]}
    trio_cases = {c for _, c in repeat_units}
    for unit, case_id in repeat_units:
        rows = ref_esc.get(case_id, [])
        if len(rows) != 1:
            st["escalation"].count(len(rows), f"case {case_id}", "not raised by referral")
            continue
        eid = rows[0]["escalation_id"]
        missing = [where for ok, where in (
            (eid in {r["escalation_id"] for r in intake_esc.get(case_id, [])}, "intake's case view"),
            (eid in rep_esc, "reporting"), (eid in raised_on_inbox, "the owner's inbox"))
            if not ok]
        if len(intake_esc.get(case_id, [])) > 1:
            st["escalation"].add("duplicated", f"case {case_id}", "two in intake's case view")
        elif missing:
            st["escalation"].add("lost", f"escalation {eid}", f"not in {missing[0]}")
        else:
            st["escalation"].add("ok", f"escalation {eid}")
    for case_id, rows in ref_esc.items():
        if case_id in our_cases and case_id not in trio_cases:
            st["escalation"].add("unexpected", f"case {case_id}", "a repeat escalation on a single complaint")
    other = Counter(r["reason"].split(":")[0] for r in db["referral"]["escalations"]
                    if r["case_id"] in our_cases and not r["reason"].startswith("repeat threshold"))

    # order per key, relay losses, redeliveries
    source_of: dict[tuple[str, str], tuple[str, int]] = {}
    relay: dict[str, Counter] = {}
    on_topic: dict[str, set[str]] = {t: {r.event_id for r in recs if r.event_id} for t, recs in topics.items()}
    for service in SERVICES:
        relay[service] = Counter()
        for row in db[service]["outbox"]:
            eid = _event_id(row["value"])
            source_of[(row["topic"], eid)] = (service, row["id"])
            if not row["published"]:
                relay[service]["still in the outbox"] += 1
            elif eid not in on_topic.get(row["topic"], set()):
                relay[service][f"published, missing on {row['topic']}"] += 1
    order: dict[str, tuple[int, int]] = {}
    redelivered: Counter = Counter()
    for topic, records in topics.items():
        per_key: dict[tuple[str | None, str], list[int]] = defaultdict(list)
        partitions: dict[str | None, set[int]] = defaultdict(set)
        seen: set[str] = set()
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            if r.event_id in seen:
                redelivered[topic] += 1
                continue
            seen.add(r.event_id or f"{r.partition}:{r.offset}")
            src = source_of.get((topic, r.event_id))
            if src is None:
                continue  # not from a service's outbox (a partner's command, the warm-up)
            per_key[(r.key, src[0])].append(src[1])
            partitions[r.key].add(r.partition)
        bad = sum(1 for ids in per_key.values() if any(a > b for a, b in zip(ids, ids[1:])))
        bad += sum(1 for parts_ in partitions.values() if len(parts_) > 1)
        if per_key:
            order[topic] = (bad, len(per_key))
    dead = {s: Counter(r["reason"][:80] for r in db[s]["dead_letter"]) for s in SERVICES}
    parked = {s: len(db[s]["parked"]) for s in SERVICES}
    return Report(st, order, relay, redelivered, dead, parked, other,
                  sum(len(r) for r in topics.values()))


async def run_check(units: list[Unit], run_tag: str, dsn: Callable[[str], str], bootstrap: list[str]) -> Report:
    db = await read_databases(dsn)
    unreadable: list[str] = []
    topics = await read_topics(bootstrap, unreadable)
    report = check(units, run_tag, db, topics)
    report.unreadable = unreadable
    return report


def drained(report: Report) -> bool:
    return not any(s.lost for s in report.stages.values())


__all__ = ["run_check", "Report", "STAGES", "drained", "asyncio"]
