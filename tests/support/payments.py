"""Moving a payment on in tests, as the confirmation work will (no such service exists yet)."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import InvoiceStatus, Payment, PaymentStatus, utcnow


def set_status(app, payment_id: int, status: PaymentStatus) -> None:
    """Give the payment ``status``; a completed one also gets a time, a transaction id and
    a paid invoice."""
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        payment.status = status
        if status == PaymentStatus.COMPLETED:
            payment.completed_at = utcnow()
            payment.transaction_id = f"sandbox_txn_{payment_id:06d}"
            payment.invoice.status = InvoiceStatus.PAID
            payment.invoice.paid_at = payment.completed_at
        db.session.commit()


def age(app, payment_id: int, seconds: int) -> None:
    """Pretend the payment was created ``seconds`` ago."""
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        payment.created_at = utcnow() - timedelta(seconds=seconds)
        db.session.commit()
