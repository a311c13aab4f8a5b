"""Reporting listens to every public event family."""

from contracts.events import (
    CaseClosed,
    CaseOpened,
    CaseReopened,
    ComplaintReceived,
    EscalationRaised,
    EscalationResolved,
    ObservationRecorded,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralExpired,
    ReferralRequested,
)
from contracts.topics import Topics
from runtime.consumer import EventRouter
from services.reporting.service_layer import handlers


def routers(projections: handlers.Projections) -> list[EventRouter]:
    cases = EventRouter(Topics.CASES)
    cases.on(CaseOpened)(projections.case_opened)
    cases.on(ComplaintReceived)(handlers.on_complaint_received)
    cases.on(ObservationRecorded)(handlers.on_observation_recorded)
    cases.on(CaseClosed)(handlers.on_case_closed)
    cases.on(CaseReopened)(handlers.on_case_reopened)

    referrals = EventRouter(Topics.REFERRALS)
    referrals.on(ReferralRequested)(handlers.on_referral_requested)
    referrals.on(ReferralExpired)(handlers.on_referral_expired)
    referrals.on(EscalationRaised)(handlers.on_escalation_raised)
    referrals.on(EscalationResolved)(handlers.on_escalation_resolved)

    partners = EventRouter(Topics.PARTNERS)
    partners.on(ReferralAccepted)(handlers.on_referral_accepted)
    partners.on(ReferralDeclined)(handlers.on_referral_declined)
    partners.on(ReferralCompleted)(handlers.on_referral_completed)
    return [cases, referrals, partners]
