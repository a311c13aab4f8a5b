"""Referral listens to cases (to route them) and to partners (agreements, responses)."""

from functools import partial

from contracts.events import (
    AgreementChanged,
    CaseErased,
    CaseOpened,
    PartnerRegistered,
    ReferralAccepted,
    ReferralDeclined,
)
from contracts.topics import Topics
from runtime.consumer import EventRouter
from services.referral.service_layer import handlers


def routers(rulebook: handlers.Rulebook) -> list[EventRouter]:
    cases = EventRouter(Topics.CASES)
    cases.on(CaseOpened)(partial(handlers.on_case_opened, rulebook=rulebook))
    cases.on(CaseErased)(handlers.on_case_erased)

    partners = EventRouter(Topics.PARTNERS)
    partners.on(PartnerRegistered)(handlers.on_partner_registered)
    partners.on(AgreementChanged)(handlers.on_agreement_changed)
    partners.on(ReferralAccepted)(handlers.on_referral_accepted)
    partners.on(ReferralDeclined)(handlers.on_referral_declined)
    return [cases, partners]
