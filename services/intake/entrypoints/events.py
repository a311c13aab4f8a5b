"""Intake listens to referral and partner events to show the corporation its case's status."""

from contracts.events import EscalationRaised, ReferralAccepted, ReferralDeclined, ReferralRequested
from contracts.topics import Topics
from runtime.consumer import EventRouter
from services.intake.service_layer import handlers

referrals = EventRouter(Topics.REFERRALS)
referrals.on(ReferralRequested)(handlers.on_referral_requested)
referrals.on(EscalationRaised)(handlers.on_escalation_raised)

partners = EventRouter(Topics.PARTNERS)
partners.on(ReferralAccepted)(handlers.on_referral_accepted)
partners.on(ReferralDeclined)(handlers.on_referral_declined)

ROUTERS = [referrals, partners]
