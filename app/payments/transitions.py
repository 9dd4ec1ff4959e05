"""The locked steps of a payment's transitions, other than a confirmation (``confirmation.py``)
and a refund (``lifecycle.refund_locked``, which queues the provider's refund).

Each ``..._locked`` function runs on a payment its caller has locked (``lifecycle.run``,
or the webhook's own transaction), decides from what the payment is now and writes the
change with an event. None commits. A refusal that must leave a trace is returned in the
``Transition`` (``refusal``) and raised by the caller once the transaction has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Numeric, cast, func, select
from sqlalchemy.orm import Session

from app import audit
from app.models import (
    AuditAction,
    InvoiceStatus,
    Payment,
    PaymentEvent,
    PaymentStatus,
    utcnow,
)
from app.payments.decisions import UNCHARGED_ENDS, Verdict, decide_decline
from app.payments.errors import (
    InvalidTransition,
    PaymentError,
    PaymentNotDeletable,
    PaymentNotFound,
)
from app.payments.events import UNAPPLIED_CHARGE_EVENTS, PaymentEventType
from app.payments.records import add_event, invoice_json, payment_json, tax_json

# What a step reports it did (``Transition.outcome``) besides the event types it wrote.
UNCHANGED = "unchanged"
REFUSED = "refused"
_CHANGES = frozenset(
    {
        PaymentEventType.CONFIRMED,
        PaymentEventType.FAILED,
        PaymentEventType.EXPIRED,
        PaymentEventType.CANCELLED,
        PaymentEventType.REFUNDED,
        PaymentEventType.DELETED,
    }
)


@dataclass(frozen=True)
class Transition:
    """What a transition did (``outcome``) and the payment as it is now."""

    outcome: str
    payment: dict[str, Any]
    invoice: dict[str, Any] | None
    tax_record: dict[str, Any] | None
    refusal: PaymentError | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in _CHANGES

    def raise_refusal(self) -> Transition:
        """Raise the refusal, if any; called once the transaction has committed."""
        if self.refusal is not None:
            raise self.refusal
        return self


def fail_locked(
    session: Session, payment: Payment, *, reason: str, actor: str, **data: Any
) -> Transition:
    """Decide (``decide_decline``) and apply a decline on a locked payment."""
    verdict = decide_decline(payment.status).verdict
    if verdict is Verdict.UNCHANGED:
        return snapshot(session, payment, UNCHANGED)
    if verdict is Verdict.CANNOT:
        return refused(session, payment, cannot(payment, "declined"))
    return _close_uncharged(session, payment, PaymentStatus.FAILED, actor, reason=reason, **data)


def cancel_locked(session: Session, payment: Payment, *, owner_id: int, actor: str) -> Transition:
    """Decide and apply a patient's cancel on a locked payment (see ``lifecycle.cancel``)."""
    if payment.user_id != owner_id:
        raise PaymentNotFound(f"Payment {payment.id} does not exist.")
    if payment.status == PaymentStatus.CANCELLED:
        return snapshot(session, payment, UNCHANGED)
    if payment.status != PaymentStatus.PENDING:
        return refused(session, payment, cannot(payment, "cancelled"))
    return _close_uncharged(session, payment, PaymentStatus.CANCELLED, actor)


def _close_uncharged(
    session: Session, payment: Payment, status: PaymentStatus, actor: str, **data: Any
) -> Transition:
    """End a payment that took no money (failed, cancelled): invoice void, an event so named."""
    payment.status = status
    payment.invoice.status = InvoiceStatus.VOID
    kind = PaymentEventType(status)
    record_event(session, payment, kind, actor, **data)
    return snapshot(session, payment, kind)


def reported_charges(payment: Payment) -> list[PaymentEvent]:
    """The payment's recorded charges that staff must refund or settle (events, oldest first)."""
    return [e for e in payment.events if e.event_type in UNAPPLIED_CHARGE_EVENTS]


#: SQL: a payment event that records money the provider took and the payment could not take
#: (``reported_charges``).
IS_REPORTED_CHARGE = PaymentEvent.event_type.in_([str(kind) for kind in UNAPPLIED_CHARGE_EVENTS])


def _event_amount(name: str):
    return cast(PaymentEvent.data[name].as_string(), Numeric(12, 2))


#: SQL: a reported charge's pesos, as ``app.formatting.extra_charges`` reads them: the amount
#: its event recorded (``amount``, or ``reported_amount`` for a charge of another amount),
#: else its payment's (the statement joins ``payments``).
REPORTED_CHARGE_AMOUNT = func.coalesce(
    _event_amount("amount"), _event_amount("reported_amount"), Payment.amount
)


def deletable(payment: Payment) -> bool:
    """Whether a soft delete of ``payment`` would be applied now (``delete_locked``'s rule):
    not deleted yet, failed, expired or cancelled, and no money reported taken for it. Pages
    offer a deletion only then; ``delete_locked`` decides again under the lock."""
    return (
        payment.deleted_at is None
        and payment.status in UNCHARGED_ENDS
        and not reported_charges(payment)
    )


def charge_transaction_ids(payment: Payment) -> list[str]:
    """The provider's transaction ids of the money it took for ``payment``: the payment's own,
    then those of its recorded charges staff must refund (``reported_charges``), each once."""
    found = [payment.transaction_id] if payment.transaction_id else []
    for event in reported_charges(payment):
        txn = (event.data or {}).get("transaction_id") if isinstance(event.data, dict) else None
        if txn and txn not in found:
            found.append(str(txn))
    return found


def delete_locked(session: Session, payment: Payment, *, reason: str, actor: str) -> Transition:
    """Decide and apply a soft delete on a locked payment."""
    if payment.deleted_at is not None:
        return snapshot(session, payment, UNCHANGED)
    if payment.status in UNCHARGED_ENDS and reported_charges(payment):
        return refused(
            session,
            payment,
            PaymentNotDeletable(
                f"Payment {payment.id} is {payment.status}, but the provider reported money "
                "taken for it: refund that charge instead of deleting the payment.",
                payment_id=payment.id,
                payment_status=payment.status,
            ),
        )
    if payment.status not in UNCHARGED_ENDS:
        return refused(
            session,
            payment,
            PaymentNotDeletable(
                f"Payment {payment.id} is {payment.status}: only a payment that moved no money "
                "(failed, expired or cancelled) can be deleted."
                + (" Refund it instead." if payment.status == PaymentStatus.COMPLETED else ""),
                payment_id=payment.id,
                payment_status=payment.status,
            ),
        )
    payment.deleted_at = utcnow()
    record_event(
        session, payment, PaymentEventType.DELETED, actor, reason=reason, status=payment.status
    )
    audit.record(AuditAction.DELETED, actor=actor, payment=payment, session=session, reason=reason)
    return snapshot(session, payment, PaymentEventType.DELETED)


def refunded_payment_for(session: Session, consultation_id: int) -> int | None:
    """A refunded payment of the consultation, if any: the consultation is closed for payment.

    Callers hold the consultation's lock (the checkout and every transition take it
    first), so a refund and a new payment cannot race.
    """
    return session.scalar(
        select(Payment.id)
        .where(
            Payment.consultation_id == consultation_id,
            Payment.status == PaymentStatus.REFUNDED,
            Payment.deleted_at.is_(None),
        )
        .limit(1)
    )


# --- what every step writes and answers ----------------------------------------------------


def refused(session: Session, payment: Payment, error: PaymentError) -> Transition:
    return snapshot(session, payment, REFUSED, refusal=error)


def cannot(payment: Payment, verb: str) -> InvalidTransition:
    return InvalidTransition(
        f"Payment {payment.id} is {payment.status} and cannot be {verb}.",
        payment_id=payment.id,
        payment_status=payment.status,
    )


def record_event(
    session: Session, payment: Payment, kind: PaymentEventType, actor: str, **data: Any
) -> None:
    """Add the payment's event ``kind`` (not flushed, not committed)."""
    add_event(
        session,
        kind,
        actor=actor,
        payment_id=payment.id,
        consultation_id=payment.consultation_id,
        **data,
    )


def snapshot(
    session: Session, payment: Payment, outcome: str, refusal: PaymentError | None = None
) -> Transition:
    session.flush()  # the version bump happens here
    return Transition(
        str(outcome),
        payment_json(payment),
        invoice_json(payment.invoice),
        tax_json(payment.tax_record),
        refusal,
    )
