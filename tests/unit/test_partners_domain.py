"""Partners' domain rules: response transitions, webhook signatures, the retry schedule,
agreement validation, and the secret box."""

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr, ValidationError

from services.partners.adapters.secrets import SecretBox
from services.partners.domain.model import (
    AgreementSeed,
    IllegalTransition,
    ReferralStatus,
    Response,
    RetrySchedule,
    decide,
    partner_topics,
    sign,
    verify,
)

S = ReferralStatus


# -- responses ------------------------------------------------------------------------------


@pytest.mark.parametrize("current,response,after", [
    (S.DELIVERED, Response.ACCEPT, S.ACCEPTED),
    (S.DELIVERED, Response.DECLINE, S.DECLINED),
    (S.ACCEPTED, Response.PROGRESS, S.ACCEPTED),
    (S.ACCEPTED, Response.COMPLETE, S.COMPLETED),
])
def test_the_lifecycle_of_a_referral(current: S, response: Response, after: S) -> None:
    assert decide(current, response, same_as_last=False) is after


def test_completing_before_accepting_is_illegal_and_says_why() -> None:
    with pytest.raises(IllegalTransition, match="cannot complete a referral that is delivered.*must be accepted"):
        decide(S.DELIVERED, Response.COMPLETE, same_as_last=False)


def test_progress_needs_an_accepted_referral() -> None:
    with pytest.raises(IllegalTransition, match="cannot progress a referral that is declined"):
        decide(S.DECLINED, Response.PROGRESS, same_as_last=False)


@pytest.mark.parametrize("current,response", [
    (S.ACCEPTED, Response.ACCEPT), (S.DECLINED, Response.DECLINE), (S.COMPLETED, Response.COMPLETE),
    (S.ACCEPTED, Response.PROGRESS),
])
def test_the_same_response_again_is_an_idempotent_retry(current: S, response: Response) -> None:
    assert decide(current, response, same_as_last=True) is None


@pytest.mark.parametrize("current,response", [
    (S.ACCEPTED, Response.ACCEPT), (S.DECLINED, Response.DECLINE), (S.COMPLETED, Response.COMPLETE),
])
def test_the_same_response_with_other_content_is_a_conflict(current: S, response: Response) -> None:
    with pytest.raises(IllegalTransition, match="already .* with different content"):
        decide(current, response, same_as_last=False)


@pytest.mark.parametrize("response", list(Response))
def test_nothing_can_be_done_with_a_held_referral(response: Response) -> None:
    with pytest.raises(IllegalTransition, match="held"):
        decide(S.HELD, response, same_as_last=False)


@pytest.mark.parametrize("response", [Response.ACCEPT, Response.DECLINE, Response.PROGRESS])
def test_a_completed_referral_is_final(response: Response) -> None:
    with pytest.raises(IllegalTransition, match="completed"):
        decide(S.COMPLETED, response, same_as_last=False)


# -- webhook signatures ---------------------------------------------------------------------

SECRET = b"partner-secret"
BODY = b'{"specversion": "1.0", "data": {"referral_id": "r-1"}}'


def test_a_signed_body_verifies() -> None:
    now = time.time()
    signature = sign(SECRET, int(now), BODY)

    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert verify(SECRET, str(int(now)), signature, BODY, now)


@pytest.mark.parametrize("what", ["body", "secret", "timestamp"])
def test_tampering_breaks_the_signature(what: str) -> None:
    now = int(time.time())
    signature = sign(SECRET, now, BODY)
    body, secret, ts = BODY, SECRET, now
    if what == "body":
        body = BODY.replace(b"r-1", b"r-2")
    elif what == "secret":
        secret = b"another"
    else:
        ts = now - 1  # the timestamp is signed: it cannot be moved

    assert not verify(secret, str(ts), signature, body, now)


def test_an_old_request_is_refused_as_a_replay() -> None:
    then = int(time.time()) - 600
    assert not verify(SECRET, str(then), sign(SECRET, then, BODY), BODY, time.time(), tolerance_s=300)


def test_a_malformed_timestamp_is_refused() -> None:
    assert not verify(SECRET, "yesterday", sign(SECRET, 0, BODY), BODY, time.time())


# -- retry schedule -------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_maximum_with_jitter_in_the_upper_half() -> None:
    schedule = RetrySchedule(initial_s=30, maximum_s=7200, give_up_after_s=86400)

    assert [schedule.delay(n, rand=lambda: 1.0) for n in (1, 2, 3)] == [30, 60, 120]
    assert [schedule.delay(n, rand=lambda: 0.0) for n in (1, 2, 3)] == [15, 30, 60]
    assert schedule.delay(20, rand=lambda: 1.0) == 7200


def test_the_default_schedule_retries_for_about_a_day_then_gives_up() -> None:
    from services.partners.config import PartnersSettings

    s = PartnersSettings()
    schedule = RetrySchedule(s.webhook_backoff_initial_seconds, s.webhook_backoff_max_seconds,
                             s.webhook_give_up_after_seconds)
    start = now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    attempts = 0
    while (at := schedule.next_attempt(attempts + 1, start, now, rand=lambda: 0.5)) is not None:
        attempts, now = attempts + 1, at

    assert timedelta(hours=20) < now - start <= timedelta(hours=24)
    assert 10 < attempts < 40


# -- registry -------------------------------------------------------------------------------


def test_an_agreement_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="valid_until is before valid_from"):
        AgreementSeed(agreement_id="conv-x", purposes=["p"], fields=["address"], legal_basis="AVG",
                      valid_from=date(2026, 2, 1), valid_until=date(2026, 1, 1))


def test_each_partner_has_an_inbox_and_a_responses_topic() -> None:
    assert partner_topics(["ggz-noord"]) == ["samenwijk.partner.ggz-noord.inbox", "samenwijk.partner.ggz-noord.responses"]


def test_webhook_secrets_are_sealed_and_the_key_never_shows() -> None:
    box = SecretBox(SecretStr("key-material"))
    sealed = box.seal("whsec-123")

    assert b"whsec-123" not in sealed
    assert box.open(sealed) == b"whsec-123"
    assert "key-material" not in repr(box)
    with pytest.raises(Exception):
        SecretBox(SecretStr("other-key")).open(sealed)


# -- what a partner sees --------------------------------------------------------------------

DELIVERED_ROW = {"purpose": "zorg", "status": "delivered", "hold_reason": None,
                 "payload": {"referral_id": "r-1", "details": {"address": {"postcode": "1024AB"},
                                                               "care_signal": "zorgmijdend"}}}


def test_a_partner_sees_only_what_its_agreement_allows_now() -> None:
    from services.partners.service_layer.handlers import partner_view

    view = partner_view(DELIVERED_ROW, {"zorg": {"address"}})

    assert view["payload"]["details"] == {"address": {"postcode": "1024AB"}}
    assert DELIVERED_ROW["payload"]["details"]["care_signal"] == "zorgmijdend"  # the stored row is untouched


def test_without_a_current_agreement_a_partner_sees_the_reason_and_no_content() -> None:
    from services.partners.service_layer.handlers import partner_view

    view = partner_view(DELIVERED_ROW, {"other-purpose": {"address"}})

    assert view["payload"] is None and view["hold_reason"] == "no valid agreement for zorg at present"


def test_a_held_referral_shows_no_content() -> None:
    from services.partners.service_layer.handlers import partner_view

    view = partner_view({**DELIVERED_ROW, "status": "held", "hold_reason": "revoked"}, {"zorg": {"address"}})

    assert view["payload"] is None and view["hold_reason"] == "revoked"
