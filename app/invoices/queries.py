"""Reading invoices for the staff pages: the filtered list, its totals, the CSV rows, one invoice.

Every page costs a fixed number of queries: rows come from one joined SELECT of
plain columns (nothing left to lazy-load per row), and one grouped query gives
the count and totals. Newest first is ``issued_at DESC, id DESC`` so the order is
stable for pagination even when two invoices share a timestamp, and the
``invoices(issued_at)`` / ``invoices(status, issued_at)`` indexes serve it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import joinedload

from app.display import clinic_tz
from app.extensions import db
from app.invoices.display import actor_user_ids
from app.invoices.filters import InvoiceFilter
from app.models import (
    Consultation,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentEvent,
    TaxRecord,
    User,
    money,
)

PAGE_SIZE = 50
_STATUS_ORDER = {status.value: n for n, status in enumerate(InvoiceStatus)}
EXPORT_BATCH = 1000

# Loader options for the printable invoice (templates/invoices/_invoice.html):
# everything it shows, in one SELECT. Other pages that include the partial can reuse it.
INVOICE_LAYOUT = (
    joinedload(Invoice.user),
    joinedload(Invoice.payment).joinedload(Payment.consultation),
    joinedload(Invoice.payment).joinedload(Payment.tax_record),
)


@dataclass(frozen=True)
class StatusTotal:
    status: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Totals:
    """Count and amount per invoice status for one filter."""

    by_status: tuple[StatusTotal, ...]

    @property
    def count(self) -> int:
        return sum(t.count for t in self.by_status)

    @property
    def amount(self) -> Decimal:
        return money(sum((t.amount for t in self.by_status), Decimal(0)))


@dataclass(frozen=True)
class InvoicePage:
    rows: list[Row]
    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_position(self) -> int:
        return (self.number - 1) * self.size + 1

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _apply(stmt: Select, f: InvoiceFilter, *, joined: bool) -> Select:
    """Add the filter's conditions; ``joined`` says Payment and User are already joined."""
    if f.method is not None and not joined:
        stmt = stmt.join(Payment, Payment.id == Invoice.payment_id)
    if f.patient is not None and not joined:
        stmt = stmt.join(User, User.id == Invoice.user_id)
    conditions = []
    if f.status is not None:
        conditions.append(Invoice.status == f.status)
    if f.method is not None:
        conditions.append(Payment.payment_method == f.method)
    # Staff filter by the clinic's calendar days, not UTC ones.
    tz = clinic_tz()
    if f.issued_from is not None:
        conditions.append(Invoice.issued_at >= f.issued_after(tz))
    if f.issued_to is not None:
        conditions.append(Invoice.issued_at < f.issued_before(tz))
    if f.patient is not None:
        conditions.append(
            User.email.icontains(f.patient, autoescape=True)
            | User.name.icontains(f.patient, autoescape=True)
        )
    if f.number is not None:
        conditions.append(Invoice.invoice_number == f.number)
    return stmt.where(*conditions)


def totals_statement(f: InvoiceFilter) -> Select:
    """Count and sum of amounts per status for the filter."""
    return _apply(
        select(Invoice.status, func.count(), func.coalesce(func.sum(Invoice.amount), 0)),
        f,
        joined=False,
    ).group_by(Invoice.status)


def totals(f: InvoiceFilter) -> Totals:
    """The filter's totals per status, in the order of InvoiceStatus (one query)."""
    rows = db.session.execute(totals_statement(f)).all()
    by_status = tuple(
        StatusTotal(status, count, money(amount))
        for status, count, amount in sorted(rows, key=lambda r: _STATUS_ORDER.get(r[0], 99))
    )
    return Totals(by_status)


def _list_statement(f: InvoiceFilter) -> Select:
    stmt = (
        select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.amount,
            Invoice.status,
            Invoice.issued_at,
            Invoice.paid_at,
            Payment.payment_method,
            Payment.status.label("payment_status"),
            User.name.label("patient_name"),
            User.email.label("patient_email"),
            Consultation.doctor_name,
            Consultation.scheduled_at,
        )
        .join(Payment, Payment.id == Invoice.payment_id)
        .join(Consultation, Consultation.id == Payment.consultation_id)
        .join(User, User.id == Invoice.user_id)
    )
    return _apply(stmt, f, joined=True).order_by(Invoice.issued_at.desc(), Invoice.id.desc())


def list_statement(f: InvoiceFilter, page: int) -> Select:
    """The SELECT for one page of the list (public so the EXPLAIN test checks this exact query)."""
    return _list_statement(f).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)


def invoice_page(f: InvoiceFilter, page: int, total: int) -> InvoicePage:
    """One page of matching invoices, newest first; past the last page it is empty."""
    rows = list(db.session.execute(list_statement(f, page)).all())
    return InvoicePage(rows=rows, number=page, total=total)


def export_rows(f: InvoiceFilter) -> Iterator[Row]:
    """Every matching invoice with its payment, patient and VAT, fetched in batches.

    ``yield_per`` makes PostgreSQL use a server-side cursor, so an export of
    100,000 invoices holds one batch in memory at a time. The query runs on the
    first ``next()``, inside the streamed response: the view's own session is
    closed as soon as the view returns, taking any open cursor with it.
    """
    stmt = (
        _list_statement(f)
        .add_columns(
            Payment.transaction_id,
            Payment.currency,
            TaxRecord.taxable_base.label("vatable_amount"),
            TaxRecord.amount.label("vat_amount"),
            TaxRecord.rate.label("vat_rate"),
        )
        .outerjoin(TaxRecord, TaxRecord.payment_id == Payment.id)
    )
    yield from db.session.execute(stmt.execution_options(yield_per=EXPORT_BATCH))


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: Invoice
    events: list[PaymentEvent]
    actors: dict[int, User]


def invoice_detail(number: str) -> InvoiceDetail | None:
    """The invoice, its payment's events and the users who acted on it (three queries)."""
    invoice = find_invoice(number)
    if invoice is None:
        return None
    events = payment_events(invoice.payment_id)
    return InvoiceDetail(invoice, events, users_by_id(actor_user_ids(events)))


def find_invoice(number: str) -> Invoice | None:
    """The invoice with this number and everything the printable layout shows."""
    stmt = select(Invoice).where(Invoice.invoice_number == number).options(*INVOICE_LAYOUT)
    return db.session.execute(stmt).unique().scalar_one_or_none()


def invoice_for_payment(payment_id: int) -> Invoice | None:
    """The payment's invoice with everything the printable layout shows, in one query."""
    stmt = select(Invoice).where(Invoice.payment_id == payment_id).options(*INVOICE_LAYOUT)
    return db.session.execute(stmt).unique().scalar_one_or_none()


def payment_events(payment_id: int) -> list[PaymentEvent]:
    """The payment's whole history, oldest first."""
    stmt = (
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment_id)
        .order_by(PaymentEvent.created_at, PaymentEvent.id)
    )
    return list(db.session.execute(stmt).scalars())


def users_by_id(ids: set[int]) -> dict[int, User]:
    """The users named by event actors (one query, none when there are no ids)."""
    if not ids:
        return {}
    return {u.id: u for u in db.session.execute(select(User).where(User.id.in_(ids))).scalars()}
