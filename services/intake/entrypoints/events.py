"""Intake listens to referral and partner events to show the corporation its case's status."""

from contracts.events import (
    EscalationRaised,
    EscalationResolved,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralExpired,
    ReferralProgressed,
    ReferralRequested,
    ReferralWithdrawn,
)
from contracts.topics import Topics
from runtime.consumer import EventRouter
from services.intake.service_layer import handlers

referrals = EventRouter(Topics.REFERRALS)
referrals.on(ReferralRequested)(handlers.on_referral_requested)
referrals.on(ReferralWithdrawn)(handlers.on_referral_withdrawn)
referrals.on(ReferralExpired)(handlers.on_referral_expired)
referrals.on(EscalationRaised)(handlers.on_escalation_raised)
referrals.on(EscalationResolved)(handlers.on_escalation_resolved)

partners = EventRouter(Topics.PARTNERS)
partners.on(ReferralAccepted)(handlers.on_referral_accepted)
partners.on(ReferralDeclined)(handlers.on_referral_declined)
partners.on(ReferralProgressed)(handlers.on_referral_progressed)
partners.on(ReferralCompleted)(handlers.on_referral_completed)

ROUTERS = [referrals, partners]
