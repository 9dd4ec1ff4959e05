"""Payments that need a person: duplicate charges, stale pending payments, webhook failures.

Each list is one query, newest first and capped, joined to the invoice so every
item links to its invoice page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, select

from app.extensions import db
from app.models import (
    GatewayEvent,
    Invoice,
    Payment,
    PaymentEvent,
    PaymentStatus,
    ProviderRequest,
    ProviderRequestState,
    User,
    utcnow,
)

LIMIT = 100


@dataclass(frozen=True)
class Attention:
    duplicate_charges: list[Row]
    stale_pending: list[Row]
    webhook_failures: list[Row]
    pending_cutoff: datetime
    limit: int = LIMIT

    @property
    def count(self) -> int:
        return len(self.duplicate_charges) + len(self.stale_pending) + len(self.webhook_failures)


def needs_attention(pending_ttl_seconds: int) -> Attention:
    """The three lists; a pending payment older than ``pending_ttl_seconds`` counts as stale."""
    cutoff = utcnow() - timedelta(seconds=pending_ttl_seconds)
    return Attention(
        duplicate_charges=_duplicate_charges(),
        stale_pending=_stale_pending(cutoff),
        webhook_failures=_webhook_failures(),
        pending_cutoff=cutoff,
    )


def _duplicate_charges() -> list[Row]:
    stmt = (
        select(
            PaymentEvent.created_at,
            PaymentEvent.actor,
            PaymentEvent.data,
            PaymentEvent.payment_id,
            Payment.status.label("payment_status"),
            Payment.amount,
            Invoice.invoice_number,
            User.name.label("patient_name"),
        )
        .outerjoin(Payment, Payment.id == PaymentEvent.payment_id)
        .outerjoin(Invoice, Invoice.payment_id == PaymentEvent.payment_id)
        .outerjoin(User, User.id == Payment.user_id)
        .where(PaymentEvent.event_type == "duplicate_charge")
        .order_by(PaymentEvent.created_at.desc(), PaymentEvent.id.desc())
        .limit(LIMIT)
    )
    return list(db.session.execute(stmt).all())


def _stale_pending(cutoff: datetime) -> list[Row]:
    # Served by payments(status, created_at): equality on status, range on created_at.
    stmt = (
        select(
            Payment.id.label("payment_id"),
            Payment.created_at,
            Payment.amount,
            Payment.payment_method,
            Invoice.invoice_number,
            User.name.label("patient_name"),
        )
        .join(User, User.id == Payment.user_id)
        .outerjoin(Invoice, Invoice.payment_id == Payment.id)
        .where(
            Payment.status == PaymentStatus.PENDING,
            Payment.created_at < cutoff,
            Payment.deleted_at.is_(None),
        )
        .order_by(Payment.created_at)
        .limit(LIMIT)
    )
    return list(db.session.execute(stmt).all())


def _webhook_failures() -> list[Row]:
    # The webhook handler writes notes starting with "error" when it cannot apply an event.
    stmt = (
        select(
            GatewayEvent.received_at,
            GatewayEvent.event_id,
            GatewayEvent.event_type,
            GatewayEvent.note,
            GatewayEvent.payment_id,
            Invoice.invoice_number,
        )
        .outerjoin(Invoice, Invoice.payment_id == GatewayEvent.payment_id)
        .where(GatewayEvent.note.startswith("error", autoescape=True))
        .order_by(GatewayEvent.received_at.desc(), GatewayEvent.id.desc())
        .limit(LIMIT)
    )
    return list(db.session.execute(stmt).all())


def refunds_not_returned() -> list[Row]:
    """Refunds the payment provider has not confirmed: refused (first), then still being sent."""
    stmt = (
        select(
            ProviderRequest.id,
            ProviderRequest.state,
            ProviderRequest.created_at,
            ProviderRequest.amount,
            ProviderRequest.attempts,
            ProviderRequest.last_error,
            ProviderRequest.next_attempt_at,
            ProviderRequest.payment_id,
            Invoice.invoice_number,
            User.name.label("patient_name"),
        )
        .join(Payment, Payment.id == ProviderRequest.payment_id)
        .join(User, User.id == Payment.user_id)
        .outerjoin(Invoice, Invoice.payment_id == ProviderRequest.payment_id)
        .where(ProviderRequest.state != ProviderRequestState.SUCCEEDED)
        .order_by(
            (ProviderRequest.state == ProviderRequestState.FAILED).desc(),
            ProviderRequest.created_at,
        )
        .limit(LIMIT)
    )
    return list(db.session.execute(stmt).all())
