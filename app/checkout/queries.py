"""What a signed-in user may read: their consultations and payments, staff any payment.

Who may see what is decided in ``app.payments.access``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, select

from app.extensions import db
from app.formatting import extra_charges
from app.models import (
    Consultation,
    CreditMemo,
    Payment,
    PaymentEvent,
    PaymentStatus,
    ProviderRequest,
    ProviderRequestState,
    User,
)
from app.payments import access
from app.payments.events import UNAPPLIED_CHARGE_EVENTS
from app.payments.lifecycle import is_stale, refunded_payment_for


@dataclass(frozen=True)
class ChargeToRefund:
    """Money the provider took on ``payment`` that it could not apply (a second charge, or
    a charge of a payment already closed): ``amount`` pesos the clinic owes back."""

    payment: Payment
    amount: Decimal


@dataclass(frozen=True)
class ConsultationRow:
    consultation: Consultation
    # The payment in progress or done; None when the patient can (still or again) pay.
    payment: Payment | None
    # The refunded payment, when there is no active one: closed for payment.
    refunded: Payment | None = None
    # The paid payment has partial refunds (credit memos the provider did not refuse).
    partly_refunded: bool = False
    # Charges of the consultation's payments that were taken but not applied: owed back.
    charges_to_refund: list[ChargeToRefund] = field(default_factory=list)


def _active_join():
    return and_(
        Payment.consultation_id == Consultation.id,
        Payment.is_active,
    )


def _open(payment: Payment | None) -> Payment | None:
    # A stale pending payment is expired by the service on the next Pay: offer Pay again.
    if payment is None or is_stale(payment):
        return None
    return payment


def consultations_with_payments(user: User) -> list[ConsultationRow]:
    """The patient's consultations, soonest first, each with its open payment."""
    # The partial unique index allows at most one active payment per consultation,
    # so the outer join yields one row per consultation.
    rows = db.session.execute(
        select(Consultation, Payment)
        .outerjoin(Payment, _active_join())
        .where(Consultation.patient_id == user.id)
        .order_by(Consultation.scheduled_at, Consultation.id)
    ).all()
    refunds = _refunded_by_consultation([c.id for c, p in rows if p is None])
    partly = _partly_refunded([p.id for c, p in rows if p is not None])
    owed = charges_to_refund([c.id for c, p in rows])
    return [
        ConsultationRow(
            c,
            _open(p),
            refunds.get(c.id) if p is None else None,
            partly_refunded=p is not None and p.id in partly,
            charges_to_refund=owed.get(c.id, []),
        )
        for c, p in rows
    ]


def _partly_refunded(payment_ids: list[int]) -> set[int]:
    """Which of these payments have a refund the provider did not refuse."""
    if not payment_ids:
        return set()
    return set(
        db.session.scalars(
            select(CreditMemo.payment_id)
            .join(ProviderRequest, ProviderRequest.id == CreditMemo.provider_request_id)
            .where(
                CreditMemo.payment_id.in_(payment_ids),
                ProviderRequest.state != ProviderRequestState.FAILED.value,
            )
            .distinct()
        )
    )


def charges_to_refund(consultation_ids: list[int]) -> dict[int, list[ChargeToRefund]]:
    """Per consultation, the charges its payments' provider took but could not apply
    (``UNAPPLIED_CHARGE_EVENTS``: a charge after a cancel, a second charge), oldest payment
    first; consultations without any are left out."""
    if not consultation_ids:
        return {}
    charged = select(PaymentEvent.payment_id).where(
        PaymentEvent.event_type.in_([str(e) for e in UNAPPLIED_CHARGE_EVENTS])
    )
    payments = db.session.scalars(
        select(Payment)
        .where(Payment.consultation_id.in_(consultation_ids), Payment.id.in_(charged))
        .order_by(Payment.id)
    )
    found: dict[int, list[ChargeToRefund]] = defaultdict(list)
    for payment in payments:
        amount = extra_charges(payment)
        if amount:
            found[payment.consultation_id].append(ChargeToRefund(payment, amount))
    return dict(found)


def _refunded_by_consultation(consultation_ids: list[int]) -> dict[int, Payment]:
    if not consultation_ids:
        return {}
    payments = db.session.scalars(
        select(Payment).where(
            Payment.consultation_id.in_(consultation_ids),
            Payment.status == PaymentStatus.REFUNDED,
            Payment.deleted_at.is_(None),
        )
    )
    return {p.consultation_id: p for p in payments}


def refunded_payment(consultation: Consultation) -> Payment | None:
    """The consultation's refunded payment, if any: it is then closed for payment."""
    payment_id = refunded_payment_for(db.session, consultation.id)
    return db.session.get(Payment, payment_id) if payment_id is not None else None


def patient_consultation(user: User, consultation_id: int) -> Consultation:
    """The consultation, if ``user`` is the patient who may pay for it (``access``).

    :raise ConsultationNotFound: 404, missing or another patient's.
    :raise NotYourConsultation: 403, staff do not pay.
    """
    return access.payable_consultation(db.session, user, consultation_id)


def open_payment(consultation: Consultation) -> Payment | None:
    """The consultation's active payment, unless it was abandoned long enough to expire."""
    payment = db.session.execute(
        select(Payment).join(Consultation, _active_join()).where(Consultation.id == consultation.id)
    ).scalar_one_or_none()
    return _open(payment)


def visible_payment(user: User, payment_id: int) -> Payment:
    """The payment, if ``user`` made it or is staff (``access``).

    :raise PaymentNotFound: 404, missing or another patient's.
    """
    return access.visible_payment(db.session, user, payment_id)
