"""Reporting listens to every public event family."""

from contracts.events import CaseOpened, ReferralAccepted, ReferralDeclined, ReferralRequested
from contracts.topics import Topics
from runtime.consumer import EventRouter
from services.reporting.service_layer import handlers

cases = EventRouter(Topics.CASES)
cases.on(CaseOpened)(handlers.on_case_opened)

referrals = EventRouter(Topics.REFERRALS)
referrals.on(ReferralRequested)(handlers.on_referral_requested)

partners = EventRouter(Topics.PARTNERS)
partners.on(ReferralAccepted)(handlers.on_referral_accepted)
partners.on(ReferralDeclined)(handlers.on_referral_declined)

ROUTERS = [cases, referrals, partners]
