"""Referral listens to cases (to route them and follow their life) and to partners
(agreements, and their answers to referrals)."""

from functools import partial

from contracts.events import (
    AgreementChanged,
    CaseClosed,
    CaseErased,
    CaseOpened,
    CaseReopened,
    ComplaintReceived,
    PartnerRegistered,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralProgressed,
)
from contracts.topics import Topics
from runtime.consumer import EventRouter
from services.referral.service_layer import handlers


def routers(ctx: handlers.Context) -> list[EventRouter]:
    cases = EventRouter(Topics.CASES)
    cases.on(CaseOpened)(partial(handlers.on_case_opened, ctx=ctx))
    cases.on(ComplaintReceived)(partial(handlers.on_complaint_received, ctx=ctx))
    cases.on(CaseClosed)(partial(handlers.on_case_closed, ctx=ctx))
    cases.on(CaseReopened)(partial(handlers.on_case_reopened, ctx=ctx))
    cases.on(CaseErased)(handlers.on_case_erased)

    partners = EventRouter(Topics.PARTNERS)
    partners.on(PartnerRegistered)(handlers.on_partner_registered)
    partners.on(AgreementChanged)(handlers.on_agreement_changed)
    partners.on(ReferralAccepted)(partial(handlers.on_referral_accepted, ctx=ctx))
    partners.on(ReferralDeclined)(partial(handlers.on_referral_declined, ctx=ctx))
    partners.on(ReferralProgressed)(partial(handlers.on_referral_progressed, ctx=ctx))
    partners.on(ReferralCompleted)(partial(handlers.on_referral_completed, ctx=ctx))
    return [cases, partners]
