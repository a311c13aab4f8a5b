"""The reference partner (examples/kafka_partner/partner.py, confluent-kafka/librdkafka)
answers referrals end to end: subscribe() in its own group, commands on its responses
topic, and samenwijk's view of the case follows."""

import subprocess
import sys
from pathlib import Path

import httpx

from samenwijk_dev import demo
from samenwijk_dev.stack import REPO

from .conftest import CONFUSED_PERSON, NUISANCE, auth, new_id, only_on, query, submit, wait_for

PARTNER = REPO / "examples" / "kafka_partner" / "partner.py"
WIJKTEAM = demo.KAFKA_NATIVE


def start_partner(stack, log_path: Path, group: str | None = None,
                  extra: tuple[str, ...] | list[str] = ("--decline-category", "leefbaarheid.vervuiling", "--complete"),
                  ) -> subprocess.Popen:
    assigned_before = log_path.read_text().count("assigned") if log_path.exists() else 0
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, str(PARTNER), "--bootstrap", stack.bootstrap, "--partner", WIJKTEAM,
         "--group", group or f"test-partner-{new_id()}", *extra,
         # earlier tests of this session left referrals in the inbox that are theirs to answer
         "--offset-reset", "latest"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        wait_for(lambda: proc.poll() is not None or log_path.read_text().count("assigned") > assigned_before, 60,
                 "the partner's assignment")
    except TimeoutError:
        stop(proc)
        raise
    assert proc.poll() is None, tail(log_path)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def parts(stack, tokens, case_id: str) -> list[dict]:
    """The case's parts as the corporation sees them in intake."""
    case = httpx.get(f"{stack.url('intake')}/v1/cases/{case_id}", headers=auth(tokens[demo.CORPORATIONS[0]])).json()
    return case["parts"]


def wijkteam_part(stack, tokens, case_id: str, status: str) -> dict | None:
    return next((p for p in parts(stack, tokens, case_id) if p["partner_id"] == WIJKTEAM and p["status"] == status),
                None)


def test_the_reference_partner_on_librdkafka_accepts_completes_and_declines(stack, tokens, routing_ready, tmp_path):
    only_on(stack, "kafka", "librdkafka's subscribe() consumer groups get no records from Tansu")
    proc = start_partner(stack, tmp_path / "partner.log")
    try:
        cared_for = submit(stack, tokens, CONFUSED_PERSON)
        out_of_scope = submit(stack, tokens, {**NUISANCE, "category": "leefbaarheid.vervuiling"})

        completed = wait_for(lambda: wijkteam_part(stack, tokens, cared_for, "completed"), 60,
                             "the wijkteam's part to be completed")
        # declined (then escalated to casusoverleg when no welzijn partner can take it over)
        declined = wait_for(lambda: next((p for p in parts(stack, tokens, out_of_scope) if p["partner_id"] == WIJKTEAM
                                          and p["response_code"] == "buiten_werkgebied"), None),
                            60, "intake to learn of the wijkteam's decline")
    finally:
        stop(proc)
    assert proc.returncode == 0, tail(tmp_path / "partner.log")
    # the corporation sees the code and its label, not the partner's words (its agreement names nobody)
    assert declined["response_label"] == "afgewezen: buiten ons werkgebied" and declined["partner_note"] is None
    assert "Valt buiten" not in str(parts(stack, tokens, out_of_scope))
    theirs = httpx.get(f"{stack.url('partners')}/v1/referrals/{declined['referral_id']}",
                       headers=auth(tokens[WIJKTEAM])).json()
    assert theirs["status"] == "declined"

    # the partner's own view: accept note, progress and outcome, as the commands said
    mine = httpx.get(f"{stack.url('partners')}/v1/referrals/{completed['referral_id']}",
                     headers=auth(tokens[WIJKTEAM])).json()
    assert mine["status"] == "completed" and mine["outcome"] == "Afgerond: hulp ingezet"
    assert [p["note"] for p in mine["progress"]] == ["Huisbezoek gedaan"]


def test_a_restarted_reference_partner_resumes_its_group_without_answering_twice(stack, tokens, routing_ready,
                                                                                  tmp_path):
    only_on(stack, "kafka", "librdkafka's subscribe() consumer groups get no records from Tansu")
    group = f"test-partner-{new_id()}"
    log_path = tmp_path / "partner.log"

    first = start_partner(stack, log_path, group=group, extra=[])
    try:
        case_a = submit(stack, tokens, CONFUSED_PERSON)
        wait_for(lambda: wijkteam_part(stack, tokens, case_a, "accepted"), 60, "the first referral to be accepted")
    finally:
        stop(first)
    assert first.returncode == 0, tail(log_path)

    # Submitted while the partner is down: the group's committed offsets bring it back here,
    # also on a partition the first run never read (the reference pins "now" on assignment).
    case_b = submit(stack, tokens, CONFUSED_PERSON)
    wait_for(lambda: query(stack, "partners", "SELECT 1 FROM referrals WHERE case_id = %s AND partner_id = %s",
                           case_b, WIJKTEAM), 60, "delivery while the partner is down")
    second = start_partner(stack, log_path, group=group, extra=[])
    try:
        wait_for(lambda: wijkteam_part(stack, tokens, case_b, "accepted"), 60, "the referral sent while it was down")
    finally:
        stop(second)
    answered = [line.split()[5] for line in log_path.read_text().splitlines() if "answered referral" in line]
    assert len(answered) == len(set(answered)) == 2, tail(log_path)
