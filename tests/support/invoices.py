"""Invoices straight from the models, with chosen dates and statuses (committed).

The payment service always issues "now" and "pending"; list, filter and export
tests need invoices spread over time and states, so they are built here the way
the service builds them: consultation, payment, tax record, invoice, event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Consultation, Invoice, Payment, PaymentEvent, TaxRecord, money, utcnow
from app.payments.records import payment_reference
from app.payments.serials import issue_invoice_serial
from app.payments.vat import vat_breakdown

TAX_RATE = Decimal("0.12")
# The payment state that goes with each invoice state.
PAYMENT_STATUS = {
    "pending": "pending",
    "paid": "completed",
    "void": "expired",
    "refunded": "refunded",
}


@dataclass(frozen=True)
class InvoiceSpec:
    status: str = "pending"
    method: str = "stripe"
    fee: str = "5000"
    doctor: str = "Dr. Ana Cruz"
    issued_at: datetime | None = None
    payment_created_at: datetime | None = None
    transaction_id: str | None = None
    receipt_url: str | None = None


def add_invoices(app, patient, specs: list[InvoiceSpec]) -> list[str]:
    """Create one consultation, payment, tax record, invoice and "created" event per spec.

    Returns the invoice numbers in the order of ``specs``.
    """
    numbers = []
    with app.app_context():
        for spec in specs:
            numbers.append(_add_one(patient, spec))
        db.session.commit()
    return numbers


def add_invoice(app, patient, **spec) -> str:
    return add_invoices(app, patient, [InvoiceSpec(**spec)])[0]


def _add_one(patient, spec: InvoiceSpec) -> str:
    issued_at = spec.issued_at or utcnow()
    fee = money(spec.fee)
    consultation = Consultation(
        patient_id=patient.id,
        doctor_name=spec.doctor,
        scheduled_at=issued_at + timedelta(days=1),
        fee=fee,
    )
    payment = Payment(
        user_id=patient.id,
        consultation=consultation,
        amount=fee,
        payment_method=spec.method,
        status=PAYMENT_STATUS[spec.status],
        transaction_id=spec.transaction_id,
        receipt_url=spec.receipt_url,
        created_at=spec.payment_created_at or issued_at,
        # A refunded invoice was paid first: it keeps its paid time, as in the app.
        completed_at=issued_at + timedelta(minutes=5)
        if spec.status in ("paid", "refunded")
        else None,
    )
    db.session.add_all([consultation, payment])
    db.session.flush()
    number = payment_reference(issued_at, payment.id)
    vat = vat_breakdown(fee, TAX_RATE, prices_include_vat=True)
    invoice = Invoice(
        payment_id=payment.id,
        user_id=patient.id,
        reference=number,
        amount=fee,
        status=spec.status,
        issued_at=issued_at,
        paid_at=payment.completed_at,
    )
    if spec.status in ("paid", "refunded"):  # a sale made: numbered as the capture does
        issue_invoice_serial(db.session, invoice, payment.completed_at or issued_at)
    db.session.add_all(
        [
            TaxRecord(
                payment=payment,
                user_id=patient.id,
                amount=vat.vat,
                taxable_base=vat.taxable_base,
                prices_include_vat=True,
                rate=TAX_RATE,
            ),
            invoice,
            PaymentEvent(
                payment_id=payment.id,
                consultation_id=consultation.id,
                event_type="created",
                actor=f"user:{patient.id}",
                data={"method": spec.method, "amount": str(fee)},
                created_at=issued_at,
            ),
        ]
    )
    return number


def add_event(app, number: str, event_type: str, *, actor: str = "system:test", **data) -> None:
    """Append an event to the payment behind invoice ``number``."""
    with app.app_context():
        invoice = db.session.query(Invoice).filter_by(invoice_number=number).one()
        db.session.add(
            PaymentEvent(
                payment_id=invoice.payment_id,
                consultation_id=invoice.payment.consultation_id,
                event_type=event_type,
                actor=actor,
                data=data,
            )
        )
        db.session.commit()


def invoice_number_of(app, payment_id: int) -> str:
    """The invoice number of payment ``payment_id``."""
    with app.app_context():
        number = db.session.scalar(
            select(Invoice.invoice_number).where(Invoice.payment_id == payment_id)
        )
        db.session.rollback()
        return number


def rows(response) -> list[str]:
    """Invoice numbers of the table rows, in page order."""
    html = response.text
    marker = 'tr data-invoice-number="'
    return [part.split('"', 1)[0] for part in html.split(marker)[1:]]
