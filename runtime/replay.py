"""Republish a service's events from its outbox: `python -m runtime.replay`.

The outbox keeps every row after publishing (it is the service's event log), so a broker
that lost data can be refilled by setting `published_at` back to NULL: the running relay
then publishes those rows again, in id order, exactly as the first time. Consumers are
inbox-guarded, so an event they already handled is skipped.

    SAMENWIJK_DATABASE_URL=postgresql://…/referral python -m runtime.replay --since 2026-11-20T00:00:00Z
    python -m runtime.replay --database-url postgresql://…/intake --from-id 81234 --topic samenwijk.cases

Without --yes it only counts the rows it would mark (a dry run).

Erased cases stay erased: rows keyed by a case that has a `case.erased` event (in this
outbox, or in the one given by --erased-from, i.e. intake's) are not republished — except
the `case.erased` events themselves — since a service keeps its outbox rows as published,
personal data included.
"""

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts.events import CaseErased
from contracts.topics import Topics
from runtime.settings import ServiceSettings

ERASED_KEYS_SQL = (
    "SELECT DISTINCT key FROM outbox WHERE topic = $1 AND key IS NOT NULL"
    " AND convert_from(value, 'UTF8')::jsonb ->> 'type' = $2"
)


@dataclass(frozen=True)
class Selection:
    """Which published outbox rows to republish: from an id or a time, optionally one topic,
    never the events of an erased case (its record keys) other than its `case.erased`."""

    from_id: int | None = None
    since: datetime | None = None
    topic: str | None = None
    erased_keys: frozenset[bytes] = frozenset()

    def where(self) -> tuple[str, list[object]]:
        conditions, params = ["published_at IS NOT NULL"], []
        if self.from_id is not None:
            params.append(self.from_id)
            conditions.append(f"id >= ${len(params)}")
        if self.since is not None:
            params.append(self.since)
            conditions.append(f"created_at >= ${len(params)}")
        if self.topic is not None:
            params.append(self.topic)
            conditions.append(f"topic = ${len(params)}")
        if self.erased_keys:
            params += [sorted(self.erased_keys), CaseErased.type_name()]
            conditions.append(f"NOT (COALESCE(key = ANY(${len(params) - 1}::bytea[]), false)"
                              f" AND convert_from(value, 'UTF8')::jsonb ->> 'type' <> ${len(params)})")
        return " AND ".join(conditions), params


async def erased_case_keys(database_url: str) -> frozenset[bytes]:
    """Record keys (case ids) of the cases this outbox announced as erased."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(ERASED_KEYS_SQL, Topics.CASES, CaseErased.type_name())
        return frozenset(row["key"] for row in rows)
    finally:
        await conn.close()


async def replay(database_url: str, selection: Selection, *, apply: bool) -> int:
    """Mark the selected rows unpublished (or only count them); returns how many."""
    where, params = selection.where()
    conn = await asyncpg.connect(database_url)
    try:
        if not apply:
            return await conn.fetchval(f"SELECT count(*) FROM outbox WHERE {where}", *params)
        async with conn.transaction():
            marked = await conn.execute(f"UPDATE outbox SET published_at = NULL WHERE {where}", *params)
            await conn.execute("SELECT pg_notify('outbox', '')")  # wake the relay at commit
        return int(marked.split()[-1])
    finally:
        await conn.close()


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-20T00:00:00Z")
    return moment


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runtime.replay", description=__doc__.splitlines()[0])
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--from-id", type=int, help="republish outbox rows with this id and later")
    start.add_argument("--since", type=_timestamp, help="republish rows written at or after this ISO 8601 time")
    parser.add_argument("--topic", help="only rows for this topic")
    parser.add_argument("--database-url", help="the service's database (default: SAMENWIJK_DATABASE_URL)")
    parser.add_argument("--erased-from", metavar="DATABASE_URL",
                        help="also skip the cases erased according to this outbox (intake's database)")
    parser.add_argument("--yes", action="store_true", help="do it; without this only count the rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    database_url = args.database_url or ServiceSettings().database_url
    count, erased = asyncio.run(_main(database_url, args))
    verb = "marked for republishing" if args.yes else "would be republished (dry run; add --yes)"
    print(f"{count} outbox rows {verb}; rows of {erased} erased cases left out")


async def _main(database_url: str, args: argparse.Namespace) -> tuple[int, int]:
    erased = await erased_case_keys(database_url)
    if args.erased_from:
        erased |= await erased_case_keys(args.erased_from)
    selection = Selection(from_id=args.from_id, since=args.since, topic=args.topic, erased_keys=erased)
    return await replay(database_url, selection, apply=args.yes), len(erased)


if __name__ == "__main__":
    main()
