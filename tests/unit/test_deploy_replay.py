"""runtime.replay selects which published outbox rows to hand back to the relay."""

from datetime import UTC, datetime

import pytest

from runtime.replay import Selection, parse_args


def test_selection_by_id_and_topic_only_touches_published_rows():
    where, params = Selection(from_id=42, topic="samenwijk.cases").where()
    assert where == "published_at IS NOT NULL AND id >= $1 AND topic = $2"
    assert params == [42, "samenwijk.cases"]


def test_selection_by_time():
    since = datetime(2026, 11, 20, tzinfo=UTC)
    where, params = Selection(since=since).where()
    assert where == "published_at IS NOT NULL AND created_at >= $1"
    assert params == [since]


def test_events_of_erased_cases_stay_out_except_the_erasure_itself():
    where, params = Selection(from_id=1, erased_keys=frozenset({b"case-b", b"case-a"})).where()
    assert where == ("published_at IS NOT NULL AND id >= $1"
                     " AND NOT (COALESCE(key = ANY($2::bytea[]), false)"
                     " AND convert_from(value, 'UTF8')::jsonb ->> 'type' <> $3)")
    assert params == [1, [b"case-a", b"case-b"], "nl.samenwijk.case.erased"]


def test_the_command_line_needs_a_start_and_a_time_zone():
    args = parse_args(["--since", "2026-11-20T00:00:00Z", "--topic", "samenwijk.referrals"])
    assert args.since == datetime(2026, 11, 20, tzinfo=UTC) and args.topic == "samenwijk.referrals"
    assert not args.yes  # a dry run unless asked
    assert parse_args(["--from-id", "7", "--yes"]).from_id == 7
    assert parse_args(["--from-id", "7", "--erased-from", "postgresql://x/intake"]).erased_from
    for argv in ([], ["--since", "2026-11-20T00:00:00"], ["--from-id", "1", "--since", "2026-11-20T00:00:00Z"]):
        with pytest.raises(SystemExit):
            parse_args(argv)
