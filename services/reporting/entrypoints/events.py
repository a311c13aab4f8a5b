"""Reporting listens to every public event family."""

from contracts.events import (
    CaseClosed,
    CaseErased,
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
    cases.on(ComplaintReceived)(projections.complaint_received)
    cases.on(ObservationRecorded)(projections.observation_recorded)
    cases.on(CaseClosed)(projections.case_closed)
    cases.on(CaseReopened)(projections.case_reopened)
    cases.on(CaseErased)(projections.case_erased)

    referrals = EventRouter(Topics.REFERRALS)
    referrals.on(ReferralRequested)(projections.referral_requested)
    referrals.on(ReferralExpired)(projections.referral_expired)
    referrals.on(EscalationRaised)(projections.escalation_raised)
    referrals.on(EscalationResolved)(projections.escalation_resolved)

    partners = EventRouter(Topics.PARTNERS)
    partners.on(ReferralAccepted)(projections.referral_accepted)
    partners.on(ReferralDeclined)(projections.referral_declined)
    partners.on(ReferralCompleted)(projections.referral_completed)
    return [cases, referrals, partners]
