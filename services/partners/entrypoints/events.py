"""Partners listens to referrals (to deliver them), to cases (owner, erasure), and to the
responses topics of Kafka-native partners."""

import re
from uuid import UUID

from contracts.events import (
    COMMANDS,
    AcceptReferral,
    CaseErased,
    CaseOpened,
    CompleteReferral,
    DeclineReferral,
    EscalationRaised,
    ReferralRequested,
    ReportProgress,
)
from contracts.events.common import PARTNER_ID
from contracts.topics import Topics
from runtime.auth import Principal
from runtime.consumer import EventMeta, EventRouter, Rejected
from runtime.unit_of_work import UnitOfWork
from services.partners.domain.model import IllegalTransition, Response
from services.partners.service_layer import handlers

referrals = EventRouter(Topics.REFERRALS)
referrals.on(ReferralRequested)(handlers.on_referral_requested)
referrals.on(EscalationRaised)(handlers.on_escalation_raised)

cases = EventRouter(Topics.CASES)
cases.on(CaseOpened)(handlers.on_case_opened)
cases.on(CaseErased)(handlers.on_case_erased)

responses = EventRouter(pattern=Topics.PARTNER_RESPONSES_PATTERN, registry=COMMANDS)


def _partner_of(topic: str) -> Principal:
    # samenwijk.partner.<partner_id>.responses: the topic's ACL says who wrote it.
    partner_id = topic.removeprefix("samenwijk.partner.").removesuffix(".responses")
    if not re.fullmatch(PARTNER_ID, partner_id):
        raise Rejected(f"topic {topic[:120]!r} does not name a valid partner id")
    return Principal(partner_id, "partner", frozenset())


async def _respond(meta: EventMeta, referral_id: UUID, response: Response, code: str, text: str | None,
                   uow: UnitOfWork) -> None:
    partner = _partner_of(meta.topic)
    try:
        await handlers.respond(referral_id, partner, response, code, text, uow)
    except handlers.ReferralNotFound:
        raise Rejected(f"no referral {referral_id} for partner {partner.organisation_id}") from None
    except (IllegalTransition, ValueError) as exc:
        raise Rejected(str(exc)) from None


@responses.on(AcceptReferral)
async def accept(command: AcceptReferral, meta: EventMeta, uow: UnitOfWork) -> None:
    await _respond(meta, command.referral_id, Response.ACCEPT, command.code, command.note, uow)


@responses.on(DeclineReferral)
async def decline(command: DeclineReferral, meta: EventMeta, uow: UnitOfWork) -> None:
    await _respond(meta, command.referral_id, Response.DECLINE, command.code, command.reason, uow)


@responses.on(ReportProgress)
async def progress(command: ReportProgress, meta: EventMeta, uow: UnitOfWork) -> None:
    await _respond(meta, command.referral_id, Response.PROGRESS, command.code, command.note, uow)


@responses.on(CompleteReferral)
async def complete(command: CompleteReferral, meta: EventMeta, uow: UnitOfWork) -> None:
    await _respond(meta, command.referral_id, Response.COMPLETE, command.code, command.outcome, uow)


ROUTERS = [referrals, cases, responses]
