"""Every event and command type, by CloudEvents `type`."""

from contracts.envelope import Event
from contracts.events.cases import (
    CaseClosed,
    CaseErased,
    CaseOpened,
    CaseReopened,
    ComplaintReceived,
    ObservationRecorded,
)
from contracts.events.commands import AcceptReferral, CompleteReferral, DeclineReferral, ReportProgress
from contracts.events.common import (
    SHAREABLE_FIELDS,
    Address,
    Arrears,
    CaseDetails,
    Contact,
    CustomerGroup,
    PartnerType,
    Severity,
)
from contracts.events.partners import (
    AgreementChanged,
    PartnerRegistered,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralProgressed,
)
from contracts.events.referrals import (
    EscalationRaised,
    EscalationResolved,
    ReferralExpired,
    ReferralRequested,
    ReferralWithdrawn,
)
from contracts.events.signals import SignalDetected
from contracts.topics import Topics


def _by_type(*models: type[Event]) -> dict[str, type[Event]]:
    return {m.type_name(): m for m in models}


# Which topic carries which event types (also drives the AsyncAPI document).
TOPIC_EVENTS: dict[str, tuple[type[Event], ...]] = {
    Topics.CASES: (CaseOpened, ComplaintReceived, ObservationRecorded, CaseClosed, CaseReopened, CaseErased),
    Topics.REFERRALS: (ReferralRequested, ReferralWithdrawn, ReferralExpired, EscalationRaised, EscalationResolved),
    Topics.PARTNERS: (ReferralAccepted, ReferralDeclined, ReferralProgressed, ReferralCompleted,
                      PartnerRegistered, AgreementChanged),
    Topics.SIGNALS: (SignalDetected,),
}

EVENTS: dict[str, type[Event]] = _by_type(*(m for ms in TOPIC_EVENTS.values() for m in ms))
COMMANDS: dict[str, type[Event]] = _by_type(AcceptReferral, DeclineReferral, ReportProgress, CompleteReferral)

__all__ = [
    "COMMANDS",
    "EVENTS",
    "SHAREABLE_FIELDS",
    "TOPIC_EVENTS",
    "AcceptReferral",
    "Address",
    "AgreementChanged",
    "Arrears",
    "CaseClosed",
    "CaseDetails",
    "CaseErased",
    "CaseOpened",
    "CaseReopened",
    "ComplaintReceived",
    "CompleteReferral",
    "Contact",
    "CustomerGroup",
    "DeclineReferral",
    "EscalationRaised",
    "EscalationResolved",
    "ObservationRecorded",
    "PartnerRegistered",
    "PartnerType",
    "ReferralAccepted",
    "ReferralCompleted",
    "ReferralDeclined",
    "ReferralExpired",
    "ReferralProgressed",
    "ReferralRequested",
    "ReferralWithdrawn",
    "ReportProgress",
    "Severity",
    "SignalDetected",
]
