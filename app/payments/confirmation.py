"""A success the provider reported, applied to a locked payment: money taken is never dropped.

``confirm_locked`` reads the facts under the locks (``ConfirmationFacts``), lets
``decisions.decide_confirmation`` say what they lead to, and writes that: the payment
completed, or a record for staff (a duplicate charge to refund, an amount mismatch), or
a refusal. The webhook calls it inside its own transaction; ``lifecycle.confirm`` inside
``lifecycle.run``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import InvoiceStatus, Payment, PaymentEvent, PaymentStatus, utcnow
from app.payments.decisions import (
    UNCHARGED_ENDS,
    ConfirmationFacts,
    Decision,
    Reported,
    Verdict,
    decide_confirmation,
)
from app.payments.errors import (
    AmountMismatch,
    DuplicateCharge,
    PaymentError,
    StaleVersion,
    TransactionIdInUse,
)
from app.payments.events import PaymentEventType
from app.payments.requests import ConfirmRequest
from app.payments.serials import issue_invoice_serial
from app.payments.transitions import (
    UNCHANGED,
    Transition,
    record_event,
    refunded_payment_for,
    refused,
    snapshot,
)


def confirm_locked(
    session: Session,
    payment: Payment,
    *,
    req: ConfirmRequest,
    actor: str,
    reported: Reported | None = None,
) -> Transition:
    """Decide (``decide_confirmation``) and apply a success report, a webhook's or staff's,
    on a locked payment."""
    decision = decide_confirmation(confirmation_facts(session, payment, req, reported))
    match decision.verdict:
        case Verdict.UNCHANGED:
            # The charge we already recorded (and perhaps refunded), reported again.
            return snapshot(session, payment, UNCHANGED)
        case Verdict.STALE_VERSION:
            return refused(session, payment, _stale(payment, req))
        case Verdict.AMOUNT_MISMATCH:
            return _amount_mismatch(session, payment, req, actor, decision.details)
        case Verdict.TRANSACTION_IN_USE:
            owner = decision.details["payment_id"]
            return refused(
                session,
                payment,
                TransactionIdInUse(
                    f"Transaction {req.transaction_id} already confirmed payment {owner}."
                ),
            )
        case Verdict.COMPLETE:
            return _complete(session, payment, req, actor)
        case Verdict.DUPLICATE_CHARGE:
            return _duplicate_charge(session, payment, req, actor, decision)
    raise AssertionError(f"no confirmation applies {decision.verdict}")


def confirmation_facts(
    session: Session, payment: Payment, req: ConfirmRequest, reported: Reported | None
) -> ConfirmationFacts:
    """What ``decide_confirmation`` needs, read under the payment's and consultation's locks.

    The consultation's other payments are read only for a payment that ended uncharged:
    nothing else consults them.
    """
    uncharged = payment.status in UNCHARGED_ENDS
    return ConfirmationFacts(
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        version=payment.version,
        recorded_transaction_id=payment.transaction_id,
        transaction_id=req.transaction_id,
        expected_version=req.expected_version,
        reported=reported,
        transaction_owner_id=_transaction_owner(session, payment, req.transaction_id),
        other_active_payment_id=_other_active_payment(session, payment) if uncharged else None,
        refunded_payment_id=(
            refunded_payment_for(session, payment.consultation_id) if uncharged else None
        ),
    )


def _complete(session: Session, payment: Payment, req: ConfirmRequest, actor: str) -> Transition:
    now = utcnow()
    previous = payment.status
    payment.status = PaymentStatus.COMPLETED
    payment.transaction_id = req.transaction_id
    payment.receipt_url = req.receipt_url
    payment.completed_at = now
    # The sale is made: its invoice serial is taken now, in this transaction (serials.py),
    # before the invoice is marked paid (a paid invoice without a serial is refused).
    issue_invoice_serial(session, payment.invoice, now)
    payment.invoice.status = InvoiceStatus.PAID
    payment.invoice.paid_at = now
    # Money came in after all: a payment staff deleted (it had moved none) is back in the lists.
    undeleted = {"undeleted": True} if payment.deleted_at is not None else {}
    payment.deleted_at = None
    record_event(
        session,
        payment,
        PaymentEventType.CONFIRMED,
        actor,
        transaction_id=req.transaction_id,
        previous_status=previous,
        **undeleted,
    )
    return snapshot(session, payment, PaymentEventType.CONFIRMED)


def _duplicate_charge(
    session: Session, payment: Payment, req: ConfirmRequest, actor: str, decision: Decision
) -> Transition:
    error = DuplicateCharge(
        f"Payment {payment.id} is {payment.status}; the provider reported another charge "
        f"({req.transaction_id}). Staff have been alerted to refund it.",
        payment_id=payment.id,
        payment_status=payment.status,
    )
    data = {
        "amount": str(payment.amount),
        "currency": payment.currency,
        "completed_transaction_id": payment.transaction_id,
        "action": "refund this charge at the provider",
        "reason": decision.reason,
        **decision.details,
    }
    kind = PaymentEventType.DUPLICATE_CHARGE
    return _unapplied(session, payment, kind, actor, req.transaction_id, error, data)


def _amount_mismatch(
    session: Session, payment: Payment, req: ConfirmRequest, actor: str, reported: dict[str, str]
) -> Transition:
    error = AmountMismatch(
        f"The provider reported {reported['reported_amount']} {reported['reported_currency']} "
        f"for payment {payment.id}, which is {payment.amount} {payment.currency}. "
        "Nothing was applied; staff have been alerted.",
        payment_id=payment.id,
        payment_status=payment.status,
    )
    data = {
        "expected_amount": str(payment.amount),
        "expected_currency": payment.currency,
        **reported,
        "action": "check the charge at the provider; it was not applied",
    }
    kind = PaymentEventType.AMOUNT_MISMATCH
    return _unapplied(session, payment, kind, actor, req.transaction_id, error, data)


def _unapplied(
    session: Session,
    payment: Payment,
    kind: PaymentEventType,
    actor: str,
    transaction_id: str,
    error: PaymentError,
    data: dict[str, Any],
) -> Transition:
    """Money the provider reported that cannot be applied: an event for staff, once per
    reported charge (providers repeat their reports), and the refusal ``error``."""
    if not _recorded(session, payment.id, kind, transaction_id):
        record_event(session, payment, kind, actor, transaction_id=transaction_id, **data)
    return snapshot(session, payment, kind, refusal=error)


def _stale(payment: Payment, req: ConfirmRequest) -> StaleVersion:
    return StaleVersion(
        f"Payment {payment.id} is at version {payment.version}, "
        f"not {req.expected_version}. Read it again before confirming.",
        current_version=payment.version,
        payment_status=payment.status,
    )


def _other_active_payment(session: Session, payment: Payment) -> int | None:
    return session.scalar(
        select(Payment.id).where(
            Payment.consultation_id == payment.consultation_id,
            Payment.id != payment.id,
            Payment.is_active,
        )
    )


def _transaction_owner(session: Session, payment: Payment, transaction_id: str) -> int | None:
    """Another payment already confirmed by ``transaction_id``, if any."""
    return session.scalar(
        select(Payment.id).where(Payment.transaction_id == transaction_id, Payment.id != payment.id)
    )


def _recorded(session: Session, payment_id: int, event_type: str, transaction_id: str) -> bool:
    recorded = session.scalars(
        select(PaymentEvent.data).where(
            PaymentEvent.payment_id == payment_id,
            PaymentEvent.event_type == event_type,
        )
    )
    return any(data.get("transaction_id") == transaction_id for data in recorded)
