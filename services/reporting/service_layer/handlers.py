"""Reporting's projections (idempotent through the inbox) and queries."""

from typing import Any

from contracts.events import CaseOpened, ReferralAccepted, ReferralDeclined, ReferralRequested
from runtime.consumer import EventMeta
from runtime.unit_of_work import UnitOfWork
from services.reporting.adapters import repository
from services.reporting.domain.model import suppressed


async def on_case_opened(event: CaseOpened, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.add_case(uow.conn, event)


async def on_referral_requested(event: ReferralRequested, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="requested",
                                     partner_type=event.partner_type.value, requested_at=event.requested_at)


async def on_referral_accepted(event: ReferralAccepted, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="accepted", responded_at=event.accepted_at)


async def on_referral_declined(event: ReferralDeclined, meta: EventMeta, uow: UnitOfWork) -> None:
    await repository.record_referral(uow.conn, referral_id=event.referral_id, case_id=event.case_id,
                                     partner_id=event.partner_id, status="declined", responded_at=event.declined_at)


COUNTS = ("cases_opened", "referrals", "referrals_accepted", "referrals_declined")


async def buurt_figures(conn: Any, category: str | None) -> list[dict[str, Any]]:
    rows = await repository.buurt_figures(conn, category)
    return [{**row, **{k: suppressed(row[k]) for k in COUNTS}} for row in rows]
