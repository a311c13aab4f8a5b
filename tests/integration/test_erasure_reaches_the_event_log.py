"""case.erased removes a case's personal data from the services' event logs (outboxes)
too, not only from their tables: a replay of the outbox must not bring it back."""

from datetime import UTC, datetime

from contracts.envelope import encode
from contracts.events import CaseErased
from contracts.topics import Topics
from tests.integration.conftest import CONFUSED_PERSON, produce, query, submit, wait_for


def outbox_rows(stack, service: str, case_id: str) -> int:
    return query(stack, service, "SELECT count(*) FROM outbox WHERE key = %s AND published_at IS NOT NULL",
                 case_id.encode())[0][0]


def test_erased_case_leaves_no_published_rows_in_referral_and_partners(stack, tokens, routing_ready):
    case_id = submit(stack, tokens, CONFUSED_PERSON)
    wait_for(lambda: outbox_rows(stack, "partners", case_id) >= 2, 30, "delivery to both partners")
    assert outbox_rows(stack, "referral", case_id) >= 2  # the two referrals, with care details
    produce(stack, Topics.CASES, [(case_id.encode(), encode(CaseErased(case_id=case_id, erased_at=datetime.now(UTC)),
                                                            "urn:test:intake"))])
    wait_for(lambda: outbox_rows(stack, "referral", case_id) == 0 and outbox_rows(stack, "partners", case_id) == 0,
             30, "the published rows of the case to be erased")
