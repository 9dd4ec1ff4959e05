"""The rows that travel with a payment, and their JSON shape. Helpers add, never commit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, bindparam, cast, insert, literal, select
from sqlalchemy.orm import Session

from app.models import (
    CreditMemo,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentEvent,
    PaymentStatus,
    ProviderRequestState,
    TaxRecord,
    money,
)
from app.payments.events import PaymentEventType
from app.payments.vat import VatBreakdown

# Core inserts (no unit of work, no flush): the checkout knows every value it writes, so
# only the new ids come back. Built once (SQLAlchemy memoizes a statement's cache key).
_INSERT_PAYMENT = insert(Payment).returning(Payment.id)
_INSERT_TAX_RECORD = insert(TaxRecord)
_INSERT_INVOICE = insert(Invoice).returning(Invoice.id)
_INSERT_EVENT = insert(PaymentEvent)


def insert_payment(session: Session, payment: Payment) -> int:
    """Insert the new (transient, never added) ``payment``, set its id and return it.

    :raise IntegrityError: the partial unique index refused a second active payment.
    """
    values = {
        column: getattr(payment, column)
        for column in (
            "user_id",
            "consultation_id",
            "amount",
            "currency",
            "payment_method",
            "status",
            "version",
            "idempotency_key_hash",
            "created_at",
            "updated_at",
        )
    }
    payment.id = session.execute(_INSERT_PAYMENT, values).scalar_one()
    return payment.id


def add_tax_record(session: Session, payment: Payment, vat: VatBreakdown) -> None:
    """The payment's VAT record; ``payment.amount`` must be ``vat.total``."""
    session.execute(
        _INSERT_TAX_RECORD,
        {
            "payment_id": payment.id,
            "user_id": payment.user_id,
            "amount": vat.vat,
            "taxable_base": vat.taxable_base,
            "prices_include_vat": vat.prices_include_vat,
            "tax_type": "VAT",
            "rate": vat.rate,
            "status": "calculated",
            "created_at": payment.created_at,
        },
    )


def payment_reference(created_at: datetime, payment_id: int) -> str:
    """What the patient quotes while paying: "INV-<created, UTC>-<payment id>". Not a sales
    invoice number: the sale's serial is issued at capture (``app.payments.serials``)."""
    return f"INV-{created_at:%Y%m%d%H%M%S}-{payment_id}"


def _new_invoice(payment: Payment, invoice_id: int | None = None) -> Invoice:
    """The (transient) invoice of a new payment, issued when the payment was created."""
    return Invoice(
        id=invoice_id,
        payment_id=payment.id,
        user_id=payment.user_id,
        reference=payment_reference(payment.created_at, payment.id),
        amount=payment.amount,
        status=InvoiceStatus.PENDING,
        issued_at=payment.created_at,
    )


def add_invoice(session: Session, payment: Payment) -> Invoice:
    """Insert the payment's invoice (``payment.id`` set); returns it, transient, with its id."""
    invoice = _new_invoice(payment)
    invoice.id = session.execute(
        _INSERT_INVOICE,
        {
            column: getattr(invoice, column)
            for column in (
                "payment_id",
                "user_id",
                "reference",
                "amount",
                "status",
                "issued_at",
            )
        },
    ).scalar_one()
    return invoice


def _records_statement():
    """Payment, tax record, "created" event and invoice in one PostgreSQL statement
    (data-modifying CTEs, the later three reading the payment's new id): one round trip
    instead of four. Every defaulted column is given, so SQLAlchemy computes nothing per row.
    Returns the payment's id and the invoice's id."""

    def b(name, type_):
        return bindparam(name, type_=type_)

    t = {table: model.__table__ for table, model in (("p", Payment), ("i", Invoice))}
    pc, ic = t["p"].c, t["i"].c
    # Tables, not entities: an ORM-enabled insert drops the CTEs' RETURNING plumbing.
    payment = (
        insert(t["p"])
        .values(
            user_id=bindparam("user_id"),
            consultation_id=bindparam("consultation_id"),
            amount=bindparam("amount"),
            currency=bindparam("currency"),
            payment_method=bindparam("payment_method"),
            status=PaymentStatus.PENDING.value,
            version=1,
            idempotency_key_hash=bindparam("idempotency_key_hash"),
            created_at=bindparam("now"),
            updated_at=bindparam("now"),
        )
        .returning(pc.id)
        .cte("payment")
    )
    now, user_id = b("now", pc.created_at.type), b("user_id", pc.user_id.type)
    tc, ec = TaxRecord.__table__.c, PaymentEvent.__table__.c
    tax = insert(TaxRecord.__table__).from_select(
        ["payment_id", "user_id", "amount", "taxable_base", "prices_include_vat", "tax_type"]
        + ["rate", "status", "created_at"],
        select(
            payment.c.id,
            user_id,
            b("vat", tc.amount.type),
            b("taxable_base", tc.taxable_base.type),
            b("prices_include_vat", tc.prices_include_vat.type),
            literal("VAT"),
            b("rate", tc.rate.type),
            literal("calculated"),
            now,
        ),
    )
    event = insert(PaymentEvent.__table__).from_select(
        ["payment_id", "consultation_id", "event_type", "actor", "data", "created_at"],
        select(
            payment.c.id,
            b("consultation_id", ec.consultation_id.type),
            literal(PaymentEventType.CREATED.value),
            b("actor", ec.actor.type),
            b("data", ec.data.type),
            now,
        ),
    )
    invoice = (
        insert(t["i"])
        .from_select(
            ["payment_id", "user_id", "reference", "amount", "status", "issued_at"],
            select(
                payment.c.id,
                user_id,
                b("reference_prefix", ic.reference.type) + cast(payment.c.id, String),
                b("amount", ic.amount.type),
                literal(InvoiceStatus.PENDING.value),
                now,
            ),
        )
        .returning(ic.payment_id, ic.id)
    )
    return invoice.add_cte(payment, tax.cte("tax"), event.cte("event"))


_INSERT_RECORDS = _records_statement()


def add_records(session: Session, payment: Payment, vat: VatBreakdown, *, actor: str) -> Invoice:
    """Insert the new (transient) ``payment`` and what travels with it: its tax record, its
    invoice and its "created" event. Sets ``payment.id``; returns the invoice (transient,
    with its id). On PostgreSQL one statement (``insert_records_at_once``), elsewhere four
    (``insert_records_one_by_one``); both write the same rows
    (tests/integration/test_payment_records.py).

    :raise IntegrityError: the partial unique index refused a second active payment.
    """
    if session.get_bind().dialect.name == "postgresql":
        return insert_records_at_once(session, payment, vat, actor=actor)
    return insert_records_one_by_one(session, payment, vat, actor=actor)


def _created_event_data(payment: Payment) -> dict[str, str]:
    return {"method": payment.payment_method, "amount": str(payment.amount)}


def insert_records_one_by_one(
    session: Session, payment: Payment, vat: VatBreakdown, *, actor: str
) -> Invoice:
    """``add_records`` as four Core inserts, for any database."""
    insert_payment(session, payment)
    add_tax_record(session, payment, vat)
    invoice = add_invoice(session, payment)
    session.execute(
        _INSERT_EVENT,
        {
            "payment_id": payment.id,
            "consultation_id": payment.consultation_id,
            "event_type": PaymentEventType.CREATED,
            "actor": actor,
            "data": _created_event_data(payment),
            "created_at": payment.created_at,
        },
    )
    return invoice


def insert_records_at_once(
    session: Session, payment: Payment, vat: VatBreakdown, *, actor: str
) -> Invoice:
    """``add_records`` as one PostgreSQL statement (``_records_statement``)."""
    prefix = payment_reference(payment.created_at, 0)[:-1]  # "INV-<created>-", the id follows
    payment.id, invoice_id = (
        session.connection()
        .execute(
            _INSERT_RECORDS,
            {
                "user_id": payment.user_id,
                "consultation_id": payment.consultation_id,
                "amount": payment.amount,
                "currency": payment.currency,
                "payment_method": payment.payment_method,
                "idempotency_key_hash": payment.idempotency_key_hash,
                "vat": vat.vat,
                "taxable_base": vat.taxable_base,
                "prices_include_vat": vat.prices_include_vat,
                "rate": vat.rate,
                "actor": actor,
                "data": _created_event_data(payment),
                "reference_prefix": prefix,
                "now": payment.created_at,
            },
        )
        .one()
    )
    return _new_invoice(payment, invoice_id)


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
        # The payment's reference under its older name, kept for existing API clients.
        "invoice_number": invoice.reference,
        "reference": invoice.reference,
        "serial_number": invoice.serial_number,
        "serial": invoice.serial,
        "branch_code": invoice.branch_code,
        "amount": str(money(invoice.amount)),
        "status": invoice.status,
        "issued_at": _iso(invoice.issued_at),
        "paid_at": _iso(invoice.paid_at),
        "refunded_amount": str(refunded_amount(invoice)),
        "credit_memos": [credit_memo_json(memo) for memo in invoice.credit_memos],
    }


def refunded_amount(invoice: Invoice) -> Decimal:
    """Pesos of the invoice's credit memos whose refund the provider did not refuse."""
    return money(
        sum((memo.amount for memo in invoice.credit_memos if not memo_failed(memo)), Decimal(0))
    )


def memo_failed(memo: CreditMemo) -> bool:
    """The provider refused the memo's refund for good: the memo stays, numbered, but
    returned nothing."""
    return memo.provider_request.state == ProviderRequestState.FAILED


def credit_memo_json(memo: CreditMemo) -> dict[str, Any]:
    return {
        "serial_number": memo.serial_number,
        "serial": memo.serial,
        "branch_code": memo.branch_code,
        "amount": str(money(memo.amount)),
        "reason": memo.reason,
        "issued_at": _iso(memo.issued_at),
        "refund_state": memo.provider_request.state,
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
