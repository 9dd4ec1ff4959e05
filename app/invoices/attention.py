"""What needs a person: money the provider took that we could not apply, and stuck payments.

- charges to refund: ``duplicate_charge`` events (a webhook or a staff confirmation
  reported a charge that cannot complete its payment);
- amount mismatches: ``amount_mismatch`` events (the provider reported another
  amount or currency; nothing was applied);
- other provider events we could not apply: ``gateway_events`` whose outcome is
  ``refused`` (a decline for a paid payment, a transaction id that already paid
  another payment);
- payments pending too long.

Each list is one query, newest first and capped, joined to the invoice so every
item links to its invoice page. Every row carries a sentence in staff words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Row, select

from app.display import format_money
from app.extensions import db
from app.models import (
    GatewayEvent,
    Invoice,
    Payment,
    PaymentEvent,
    ProviderRequest,
    ProviderRequestState,
    User,
)
from app.payments.lifecycle import stale_cutoff

LIMIT = 100

# Why a reported charge could not complete its payment, as staff read it.
DUPLICATE_REASONS = {
    "already_completed": "The payment was already paid by another transaction.",
    "payment_refunded": "The payment had already been refunded.",
    "consultation_refunded": "The consultation had already been refunded.",
    "late_success_after_failed": "The payment had been declined, and the patient then paid again.",
    "late_success_after_expired": "The payment had expired, and the patient then paid again.",
    "late_success_after_cancelled": "The payment had been cancelled, and the patient then paid again.",
}


@dataclass(frozen=True)
class Item:
    """One line on the attention page: when, which invoice, what happened, what to do."""

    at: datetime
    invoice_number: str | None
    patient_name: str | None
    payment_status: str | None
    what: str
    action: str
    transaction_id: str | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class Attention:
    duplicate_charges: list[Item]
    amount_mismatches: list[Item]
    unapplied_events: list[Item]
    stale_pending: list[Row]
    pending_cutoff: datetime
    pending_minutes: int
    limit: int = LIMIT

    @property
    def count(self) -> int:
        return (
            len(self.duplicate_charges)
            + len(self.amount_mismatches)
            + len(self.unapplied_events)
            + len(self.stale_pending)
        )


def needs_attention(pending_ttl_seconds: int) -> Attention:
    """The four lists; a pending payment older than ``pending_ttl_seconds`` counts as stale."""
    cutoff = stale_cutoff(pending_ttl_seconds)
    duplicates, mismatches = _charge_events()
    return Attention(
        duplicate_charges=duplicates,
        amount_mismatches=mismatches,
        unapplied_events=_unapplied_events(),
        stale_pending=_stale_pending(cutoff),
        pending_cutoff=cutoff,
        pending_minutes=max(1, round(pending_ttl_seconds / 60)),
    )


def _charge_events() -> tuple[list[Item], list[Item]]:
    stmt = (
        select(
            PaymentEvent.event_type,
            PaymentEvent.created_at,
            PaymentEvent.data,
            Payment.status.label("payment_status"),
            Payment.amount,
            Invoice.invoice_number,
            User.name.label("patient_name"),
        )
        .outerjoin(Payment, Payment.id == PaymentEvent.payment_id)
        .outerjoin(Invoice, Invoice.payment_id == PaymentEvent.payment_id)
        .outerjoin(User, User.id == Payment.user_id)
        .where(PaymentEvent.event_type.in_(("duplicate_charge", "amount_mismatch")))
        .order_by(PaymentEvent.created_at.desc(), PaymentEvent.id.desc())
        .limit(2 * LIMIT)
    )
    duplicates: list[Item] = []
    mismatches: list[Item] = []
    for row in db.session.execute(stmt):
        data = row.data if isinstance(row.data, dict) else {}
        if row.event_type == "duplicate_charge":
            duplicates.append(_duplicate_item(row, data))
        else:
            mismatches.append(_mismatch_item(row, data))
    return duplicates[:LIMIT], mismatches[:LIMIT]


def _duplicate_item(row: Row, data: dict[str, Any]) -> Item:
    amount = _decimal(data.get("amount")) or row.amount
    transaction = _optional_text(data.get("transaction_id"))
    which = f" (transaction {transaction})" if transaction else ""
    what = "The payment provider reported a charge we could not apply. " + DUPLICATE_REASONS.get(
        str(data.get("reason")), "Another charge was already recorded for this consultation."
    )
    return Item(
        at=row.created_at,
        invoice_number=row.invoice_number,
        patient_name=row.patient_name,
        payment_status=row.payment_status,
        what=what,
        action=f"Refund {format_money(amount)}{which} at the payment provider.",
        transaction_id=transaction,
        amount=amount,
    )


def _mismatch_item(row: Row, data: dict[str, Any]) -> Item:
    reported = f"{_text(data.get('reported_amount'))} {_text(data.get('reported_currency'))}"
    expected = f"{format_money(row.amount)}"
    return Item(
        at=row.created_at,
        invoice_number=row.invoice_number,
        patient_name=row.patient_name,
        payment_status=row.payment_status,
        what=(
            f"The payment provider reported a charge of {reported} for a payment of "
            f"{expected}. It was not applied."
        ),
        action="Check the charge at the payment provider; refund it or charge the difference.",
        transaction_id=_optional_text(data.get("transaction_id")),
        amount=_decimal(data.get("reported_amount")),
    )


def _unapplied_events() -> list[Item]:
    stmt = (
        select(
            GatewayEvent.received_at,
            GatewayEvent.event_id,
            GatewayEvent.event_type,
            GatewayEvent.note,
            GatewayEvent.payload,
            Payment.status.label("payment_status"),
            Invoice.invoice_number,
            User.name.label("patient_name"),
        )
        .outerjoin(Payment, Payment.id == GatewayEvent.payment_id)
        .outerjoin(Invoice, Invoice.payment_id == GatewayEvent.payment_id)
        .outerjoin(User, User.id == Payment.user_id)
        # duplicate_charge and amount_mismatch events are listed above, once per charge.
        .where(GatewayEvent.outcome.in_(("refused", "refund_unmatched")))
        .order_by(GatewayEvent.received_at.desc(), GatewayEvent.id.desc())
        .limit(LIMIT)
    )
    items = []
    for row in db.session.execute(stmt):
        if row.event_type == "payment.declined":
            what = (
                f"The payment provider reported a decline for a payment that is "
                f"{row.payment_status}. Nothing was changed."
            )
            action = "Check the payment at the provider: was the money taken or not?"
        elif row.event_type == "refund.succeeded":
            what = f"The payment provider reported a refund we did not ask for: {row.note}"
            action = "Check the refund at the payment provider."
        else:
            what = f"The payment provider reported a charge we could not apply: {row.note}"
            action = "Check the charge at the payment provider."
        items.append(
            Item(
                at=row.received_at,
                invoice_number=row.invoice_number,
                patient_name=row.patient_name,
                payment_status=row.payment_status,
                what=what,
                action=action,
                transaction_id=_payload_transaction(row.payload),
            )
        )
    return items


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
        .where(Payment.is_stale_pending(cutoff))
        .order_by(Payment.created_at)
        .limit(LIMIT)
    )
    return list(db.session.execute(stmt).all())


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _text(value: Any) -> str:
    return "—" if value is None else str(value)[:80]


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)[:80]


def _payload_transaction(payload: Any) -> str | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    return _optional_text(data.get("transaction_id") if isinstance(data, dict) else None)


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
