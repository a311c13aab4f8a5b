"""Partners listens to referrals (to deliver them), to cases (erasure), and to the
responses topics of Kafka-native partners."""

from contracts.events import COMMANDS, AcceptReferral, CaseErased, DeclineReferral, EscalationRaised, ReferralRequested
from contracts.topics import Topics
from runtime.consumer import EventMeta, EventRouter, Rejected
from runtime.unit_of_work import UnitOfWork
from services.partners.domain.model import IllegalTransition, ReferralStatus
from services.partners.service_layer import handlers

referrals = EventRouter(Topics.REFERRALS)
referrals.on(ReferralRequested)(handlers.on_referral_requested)
referrals.on(EscalationRaised)(handlers.on_escalation_raised)

cases = EventRouter(Topics.CASES)
cases.on(CaseErased)(handlers.on_case_erased)

responses = EventRouter(pattern=Topics.PARTNER_RESPONSES_PATTERN, registry=COMMANDS)


def _partner_of(topic: str) -> str:
    return topic.split(".")[2]  # samenwijk.partner.<partner_id>.responses


async def _respond(meta: EventMeta, referral_id, wanted: ReferralStatus, text: str | None, uow: UnitOfWork) -> None:
    try:
        await handlers.respond(referral_id, _partner_of(meta.topic), wanted, text, uow)
    except handlers.ReferralNotFound:
        raise Rejected(f"no referral {referral_id} for partner {_partner_of(meta.topic)}") from None
    except IllegalTransition as exc:
        raise Rejected(str(exc)) from None


@responses.on(AcceptReferral)
async def accept(command: AcceptReferral, meta: EventMeta, uow: UnitOfWork) -> None:
    await _respond(meta, command.referral_id, ReferralStatus.ACCEPTED, command.note, uow)


@responses.on(DeclineReferral)
async def decline(command: DeclineReferral, meta: EventMeta, uow: UnitOfWork) -> None:
    await _respond(meta, command.referral_id, ReferralStatus.DECLINED, command.reason, uow)


ROUTERS = [referrals, cases, responses]
