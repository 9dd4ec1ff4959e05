"""Transitions after creation: expiry now; confirm, fail and refund build on it."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy.orm import Session

from app.models import InvoiceStatus, Payment, PaymentStatus, utcnow
from app.payments.records import add_event


def is_stale(payment: Payment) -> bool:
    """A pending payment older than PAYMENT_PENDING_TTL was abandoned."""
    ttl = timedelta(seconds=current_app.config["PAYMENT_PENDING_TTL"])
    return payment.status == PaymentStatus.PENDING and payment.created_at < utcnow() - ttl


def expire(session: Session, payment: Payment, *, actor: str) -> None:
    """Mark an abandoned payment expired and void its invoice. Caller holds the lock."""
    payment.status = PaymentStatus.EXPIRED
    if payment.invoice is not None:
        payment.invoice.status = InvoiceStatus.VOID
    add_event(
        session,
        "expired",
        actor=actor,
        payment_id=payment.id,
        consultation_id=payment.consultation_id,
    )
    session.flush()
