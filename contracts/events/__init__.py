"""Every event and command type, by CloudEvents `type`."""

from contracts.envelope import Event
from contracts.events.cases import CaseClosed, CaseErased, CaseOpened, ComplaintReceived
from contracts.events.commands import AcceptReferral, DeclineReferral
from contracts.events.common import SHAREABLE_FIELDS, Address, Arrears, CaseDetails, Contact, PartnerType, Severity
from contracts.events.partners import AgreementChanged, PartnerRegistered, ReferralAccepted, ReferralDeclined
from contracts.events.referrals import EscalationRaised, ReferralRequested
from contracts.topics import Topics


def _by_type(*models: type[Event]) -> dict[str, type[Event]]:
    return {m.type_name(): m for m in models}


# Which topic carries which event types (also drives the AsyncAPI document).
TOPIC_EVENTS: dict[str, tuple[type[Event], ...]] = {
    Topics.CASES: (CaseOpened, ComplaintReceived, CaseClosed, CaseErased),
    Topics.REFERRALS: (ReferralRequested, EscalationRaised),
    Topics.PARTNERS: (ReferralAccepted, ReferralDeclined, PartnerRegistered, AgreementChanged),
}

EVENTS: dict[str, type[Event]] = _by_type(*(m for ms in TOPIC_EVENTS.values() for m in ms))
COMMANDS: dict[str, type[Event]] = _by_type(AcceptReferral, DeclineReferral)

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
    "ComplaintReceived",
    "Contact",
    "DeclineReferral",
    "EscalationRaised",
    "PartnerRegistered",
    "PartnerType",
    "ReferralAccepted",
    "ReferralDeclined",
    "ReferralRequested",
    "Severity",
]
