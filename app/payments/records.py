"""The rows that travel with a payment, and their JSON shape. Helpers add, never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentEvent,
    TaxRecord,
    money,
    utcnow,
)
from app.payments.vat import VatBreakdown


def add_tax_record(session: Session, payment: Payment, vat: VatBreakdown) -> TaxRecord:
    """The payment's VAT record; ``payment.amount`` must be ``vat.total``."""
    record = TaxRecord(
        payment_id=payment.id,
        user_id=payment.user_id,
        amount=vat.vat,
        taxable_base=vat.taxable_base,
        prices_include_vat=vat.prices_include_vat,
        tax_type="VAT",
        rate=vat.rate,
        status="calculated",
    )
    session.add(record)
    return record


def invoice_number(issued_at: datetime, payment_id: int) -> str:
    return f"INV-{issued_at:%Y%m%d%H%M%S}-{payment_id}"


def add_invoice(session: Session, payment: Payment) -> Invoice:
    """Needs ``payment.id``: flush the payment first."""
    issued_at = utcnow()
    invoice = Invoice(
        payment_id=payment.id,
        user_id=payment.user_id,
        invoice_number=invoice_number(issued_at, payment.id),
        amount=payment.amount,
        status=InvoiceStatus.PENDING,
        issued_at=issued_at,
    )
    session.add(invoice)
    return invoice


def add_event(
    session: Session,
    event_type: str,
    *,
    actor: str,
    payment_id: int | None = None,
    consultation_id: int | None = None,
    **data: Any,
) -> PaymentEvent:
    event = PaymentEvent(
        payment_id=payment_id,
        consultation_id=consultation_id,
        event_type=event_type,
        actor=actor,
        data=data,
    )
    session.add(event)
    return event


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "consultation_id": payment.consultation_id,
        "user_id": payment.user_id,
        "amount": str(money(payment.amount)),
        "currency": payment.currency,
        "payment_method": payment.payment_method,
        "status": payment.status,
        "transaction_id": payment.transaction_id,
        "receipt_url": payment.receipt_url,
        "version": payment.version,
        "created_at": _iso(payment.created_at),
        "updated_at": _iso(payment.updated_at),
        "completed_at": _iso(payment.completed_at),
    }


def invoice_json(invoice: Invoice | None) -> dict[str, Any] | None:
    if invoice is None:
        return None
    return {
        "id": invoice.id,
        "invoice_number": invoice.invoice_number,
        "amount": str(money(invoice.amount)),
        "status": invoice.status,
        "issued_at": _iso(invoice.issued_at),
        "paid_at": _iso(invoice.paid_at),
    }


def tax_json(record: TaxRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    # The same three numbers as every page: VATable amount + VAT = total charged.
    return {
        "tax_type": record.tax_type,
        "rate": str(record.rate),
        "prices_include_vat": record.prices_include_vat,
        "taxable_base": str(money(record.taxable_base)),
        "amount": str(money(record.amount)),
        "total": str(money(record.taxable_base + record.amount)),
        "status": record.status,
    }


def event_json(event: PaymentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.event_type,
        "actor": event.actor,
        "data": event.data,
        "at": _iso(event.created_at),
    }
