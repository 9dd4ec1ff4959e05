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

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext
from sqlalchemy import Row, Select, select

from app.extensions import db
from app.formatting import format_money, status_word
from app.gateway.webhooks import NOT_APPLIED_OUTCOMES, UNREADABLE
from app.i18n import N_
from app.models import (
    GatewayEvent,
    Invoice,
    Payment,
    PaymentEvent,
    ProviderRequest,
    ProviderRequestState,
    User,
)
from app.payments.events import UNAPPLIED_CHARGE_EVENTS, PaymentEventType
from app.payments.events import DuplicateChargeReason as Why
from app.payments.lifecycle import stale_cutoff

LIMIT = 100

# Why a reported charge could not complete its payment, as staff read it (English msgids;
# every sentence of this page is in the staff member's language).
DUPLICATE_REASONS = {
    Why.ALREADY_COMPLETED: N_("The payment was already paid by another transaction."),
    Why.PAYMENT_REFUNDED: N_("The payment had already been refunded."),
    Why.CONSULTATION_REFUNDED: N_("The consultation had already been refunded."),
    Why.LATE_SUCCESS_AFTER_FAILED: N_(
        "The payment had been declined, and the patient then paid again."
    ),
    Why.LATE_SUCCESS_AFTER_EXPIRED: N_("The payment had expired, and the patient then paid again."),
    Why.LATE_SUCCESS_AFTER_CANCELLED: N_(
        "The payment had been cancelled, and the patient then paid again."
    ),
}
_OTHER_CHARGE = N_("Another charge was already recorded for this consultation.")


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


def _about_its_payment(payment_id: Any, *columns: Any) -> Select:
    """``columns`` of an event table, with its payment's status, invoice number and patient
    name (``payment_status``, ``invoice_number``, ``patient_name``; None when the event names
    no payment), joined through the event's ``payment_id`` column."""
    return (
        select(
            *columns,
            Payment.status.label("payment_status"),
            Invoice.invoice_number,
            User.name.label("patient_name"),
        )
        .outerjoin(Payment, Payment.id == payment_id)
        .outerjoin(Invoice, Invoice.payment_id == payment_id)
        .outerjoin(User, User.id == Payment.user_id)
    )


def _charge_events() -> tuple[list[Item], list[Item]]:
    stmt = (
        _about_its_payment(
            PaymentEvent.payment_id,
            PaymentEvent.event_type,
            PaymentEvent.created_at,
            PaymentEvent.data,
            Payment.amount,
        )
        .where(PaymentEvent.event_type.in_(UNAPPLIED_CHARGE_EVENTS))
        .order_by(PaymentEvent.created_at.desc(), PaymentEvent.id.desc())
        .limit(2 * LIMIT)
    )
    duplicates: list[Item] = []
    mismatches: list[Item] = []
    for row in db.session.execute(stmt):
        data = row.data if isinstance(row.data, dict) else {}
        if row.event_type == PaymentEventType.DUPLICATE_CHARGE:
            duplicates.append(_duplicate_item(row, data))
        else:
            mismatches.append(_mismatch_item(row, data))
    return duplicates[:LIMIT], mismatches[:LIMIT]


def _duplicate_item(row: Row, data: dict[str, Any]) -> Item:
    amount = _decimal(data.get("amount")) or row.amount
    transaction = _optional_text(data.get("transaction_id"))
    reason = DUPLICATE_REASONS.get(str(data.get("reason")), _OTHER_CHARGE)
    what = (
        gettext("The payment provider reported a charge we could not apply.")
        + " "
        + gettext(reason)
    )
    money_words = {"amount": format_money(amount), "transaction": transaction}
    if transaction:
        action = gettext(
            "Refund %(amount)s (transaction %(transaction)s) at the payment provider.",
            **money_words,
        )
    else:
        action = gettext("Refund %(amount)s at the payment provider.", **money_words)
    return Item(
        at=row.created_at,
        invoice_number=row.invoice_number,
        patient_name=row.patient_name,
        payment_status=row.payment_status,
        what=what,
        action=action,
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
        what=gettext(
            "The payment provider reported a charge of %(reported)s for a payment of "
            "%(expected)s. It was not applied.",
            reported=reported,
            expected=expected,
        ),
        action=gettext(
            "Check the charge at the payment provider; refund it or charge the difference."
        ),
        transaction_id=_optional_text(data.get("transaction_id")),
        amount=_decimal(data.get("reported_amount")),
    )


def _unapplied_events() -> list[Item]:
    stmt = (
        _about_its_payment(
            GatewayEvent.payment_id,
            GatewayEvent.received_at,
            GatewayEvent.event_id,
            GatewayEvent.event_type,
            GatewayEvent.note,
            GatewayEvent.outcome,
            GatewayEvent.body,
        )
        # duplicate_charge and amount_mismatch events are listed above, once per charge.
        .where(GatewayEvent.outcome.in_(NOT_APPLIED_OUTCOMES))
        .order_by(GatewayEvent.received_at.desc(), GatewayEvent.id.desc())
        .limit(LIMIT)
    )
    items = []
    for row in db.session.execute(stmt):
        if row.outcome == UNREADABLE:
            what = gettext(
                "The payment provider sent a signed notification we could not read: %(note)s",
                note=row.note,
            )
            action = gettext(
                "Ask the payment provider what it reported, and check the payment there."
            )
        elif row.event_type == "payment.declined":
            what = gettext(
                "The payment provider reported a decline for a payment that is "
                "%(status)s. Nothing was changed.",
                status=status_word(str(row.payment_status)),
            )
            action = gettext("Check the payment at the provider: was the money taken or not?")
        elif row.event_type == "refund.succeeded":
            what = gettext(
                "The payment provider reported a refund we did not ask for: %(note)s",
                note=row.note,
            )
            action = gettext("Check the refund at the payment provider.")
        else:
            what = gettext(
                "The payment provider reported a charge we could not apply: %(note)s",
                note=row.note,
            )
            action = gettext("Check the charge at the payment provider.")
        items.append(
            Item(
                at=row.received_at,
                invoice_number=row.invoice_number,
                patient_name=row.patient_name,
                payment_status=row.payment_status,
                what=what,
                action=action,
                transaction_id=_sent_transaction(row.body),
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


def _sent_transaction(body: bytes) -> str | None:
    """The provider's transaction id in a stored notification body, if it names one."""
    try:
        sent = json.loads(body)
    except (ValueError, RecursionError):
        return None
    data = sent.get("data") if isinstance(sent, dict) else None
    found = data.get("transaction_id") if isinstance(data, dict) else None
    return _optional_text(found) if isinstance(found, str) else None


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
