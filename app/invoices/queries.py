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

from sqlalchemy import Row, Select, func, literal, select, tuple_
from sqlalchemy.orm import aliased, joinedload

from app.extensions import db
from app.formatting import clinic_tz
from app.invoices.filters import DELETED, Cursor, InvoiceFilter
from app.invoices.history import actor_user_ids
from app.models import (
    Consultation,
    CreditMemo,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentEvent,
    TaxRecord,
    User,
    money,
)
from app.payments.events import UNAPPLIED_CHARGE_EVENTS
from app.payments.transitions import IS_REPORTED_CHARGE, REPORTED_CHARGE_AMOUNT

PAGE_SIZE = 50
# Its own name in the soft-delete subquery, so it never correlates with a joined Payment.
_DeletedPayment = aliased(Payment, name="deleted_payment")
_STATUS_ORDER = {status.value: n for n, status in enumerate(InvoiceStatus)}
EXPORT_BATCH = 1000

# Loader options for the printable invoice (templates/invoices/_invoice.html):
# everything it shows, in one SELECT. Other pages that include the partial can reuse it.
INVOICE_LAYOUT = (
    joinedload(Invoice.user),
    joinedload(Invoice.payment).joinedload(Payment.consultation),
    joinedload(Invoice.payment).joinedload(Payment.tax_record),
    joinedload(Invoice.payment).joinedload(Payment.sale_discount),
)


@dataclass(frozen=True)
class StatusTotal:
    status: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Totals:
    """Count and amount per invoice status for one filter.

    Money is never added across statuses: collected (paid), outstanding (pending) and
    refunded are separate sums, in pesos; void invoices are counted, not summed. A void
    invoice whose payment the provider charged anyway (a charge after a cancel, recorded as
    an unapplied charge event, ``UNAPPLIED_CHARGE_EVENTS``) is money taken, not "not
    collected": it is summed apart in ``charged_void``, money the clinic owes back.
    """

    by_status: tuple[StatusTotal, ...]
    charged_void: StatusTotal = StatusTotal(InvoiceStatus.VOID, 0, money(0))

    @property
    def count(self) -> int:
        return sum(t.count for t in self.by_status) + self.charged_void.count

    def of(self, status: str) -> StatusTotal:
        """The total for one invoice status (zero when no invoice has it)."""
        found = (t for t in self.by_status if t.status == status)
        return next(found, StatusTotal(status, 0, money(0)))

    @property
    def collected(self) -> StatusTotal:
        return self.of(InvoiceStatus.PAID)

    @property
    def outstanding(self) -> StatusTotal:
        return self.of(InvoiceStatus.PENDING)

    @property
    def refunded(self) -> StatusTotal:
        return self.of(InvoiceStatus.REFUNDED)

    @property
    def void(self) -> StatusTotal:
        return self.of(InvoiceStatus.VOID)


@dataclass(frozen=True)
class InvoicePage:
    """One page of the list, newest first, and the cursors of the links around it:
    ``older`` past its last row, ``newer`` before its first; None where nothing lies."""

    rows: list[Row]
    older: Cursor | None
    newer: Cursor | None
    size: int = PAGE_SIZE

    @property
    def is_first(self) -> bool:
        return self.newer is None


def _apply(stmt: Select, f: InvoiceFilter, *, joined: bool) -> Select:
    """Add the filter's conditions; ``joined`` says Payment and User are already joined."""
    if f.method is not None and not joined:
        stmt = stmt.join(Payment, Payment.id == Invoice.payment_id)
    if f.patient is not None and not joined:
        stmt = stmt.join(User, User.id == Invoice.user_id)
    conditions = []
    # Soft-deleted payments (they moved no money) leave the lists and totals, and come
    # back under the "deleted" filter: an (anti-)join against ix_payments_deleted.
    deleted = (
        select(_DeletedPayment.id)
        .where(_DeletedPayment.id == Invoice.payment_id, _DeletedPayment.deleted_at.is_not(None))
        .exists()
    )
    conditions.append(deleted if f.status == DELETED else ~deleted)
    if f.status not in (None, DELETED):
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
    # An invoice number is INV-<issued>-<payment id>: staff quote its start, or its end.
    if f.payment_number is not None:
        conditions.append(Invoice.payment_id == f.payment_number)
    elif f.number_prefix is not None:
        # Only [a-z0-9-] reach here (filters.py), so nothing in it is a LIKE wildcard.
        conditions.append(func.lower(Invoice.invoice_number).like(f"{f.number_prefix}%"))
    return stmt.where(*conditions)


def totals_statement(f: InvoiceFilter) -> Select:
    """Count and sum of amounts (pesos) per status for the filter, and per whether the
    provider reported money taken for the invoice's payment: rows of
    ``(status, charged, count, amount)``."""
    # Uncorrelated, so PostgreSQL hashes the few charged payments once (a "hashed SubPlan")
    # instead of probing payment_events for every invoice counted.
    charged = Invoice.payment_id.in_(
        select(PaymentEvent.payment_id).where(
            PaymentEvent.payment_id.is_not(None),
            PaymentEvent.event_type.in_([str(e) for e in UNAPPLIED_CHARGE_EVENTS]),
        )
    ).label("charged")
    return _apply(
        select(Invoice.status, charged, func.count(), func.coalesce(func.sum(Invoice.amount), 0)),
        f,
        joined=False,
    ).group_by(Invoice.status, charged)


def totals(f: InvoiceFilter) -> Totals:
    """The filter's totals per status, in the order of InvoiceStatus (one query); void
    invoices the provider charged anyway apart (``Totals.charged_void``)."""
    rows = db.session.execute(totals_statement(f)).all()
    kept: dict[str, tuple[int, Decimal]] = {}
    charged_void = StatusTotal(InvoiceStatus.VOID, 0, money(0))
    for status, charged, count, amount in rows:
        if charged and status == InvoiceStatus.VOID:
            charged_void = StatusTotal(status, count, money(amount))
            continue
        before = kept.get(status, (0, Decimal(0)))
        kept[status] = (before[0] + count, before[1] + Decimal(amount))
    by_status = tuple(
        StatusTotal(status, count, money(amount))
        for status, (count, amount) in sorted(
            kept.items(), key=lambda item: _STATUS_ORDER.get(item[0], 99)
        )
    )
    return Totals(by_status, charged_void)


def _list_statement(f: InvoiceFilter, *, refunds: bool = True) -> Select:
    """The list's columns for the filter, unordered; ``refunds`` adds ``refunded_amount``."""
    refunded = (
        # Pesos refunded so far (its credit memos), None when nothing was: the list shows
        # what was paid and what was given back, not one or the other. Per row, through
        # ix_credit_memos_invoice_id: a page reads 51 index entries, where a grouped join
        # would sum every credit memo of the filter before the page could be cut.
        select(func.sum(CreditMemo.amount))
        .where(CreditMemo.invoice_id == Invoice.id)
        .scalar_subquery()
        .label("refunded_amount")
    )
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
            *([refunded] if refunds else []),
        )
        .join(Payment, Payment.id == Invoice.payment_id)
        .join(Consultation, Consultation.id == Payment.consultation_id)
        .join(User, User.id == Invoice.user_id)
    )
    return _apply(stmt, f, joined=True)


def list_statement(f: InvoiceFilter, cursor: Cursor | None = None) -> Select:
    """The SELECT for one page of the list and one row more (which says whether another page
    lies beyond): the rows on ``cursor``'s side of its row, nearest first; the first page
    without one. Public so the EXPLAIN tests check this exact query.

    Keyset pagination: the row comparison ``(issued_at, id) < (:t, :id)`` is a range of the
    ``(issued_at, id)`` indexes (``(status, issued_at, id)``, ``(user_id, issued_at, id)``
    with a filter), so a page deep in a million invoices reads the same 51 index entries
    as the first one, where an OFFSET reads and drops every row before it.
    """
    stmt = _list_statement(f)
    key = tuple_(Invoice.issued_at, Invoice.id)
    if cursor is None or cursor.older:
        if cursor is not None:
            stmt = stmt.where(key < tuple_(_at(cursor), literal(cursor.invoice_id)))
        order = (Invoice.issued_at.desc(), Invoice.id.desc())
    else:
        stmt = stmt.where(key > tuple_(_at(cursor), literal(cursor.invoice_id)))
        order = (Invoice.issued_at.asc(), Invoice.id.asc())
    return stmt.order_by(*order).limit(PAGE_SIZE + 1)


def _at(cursor: Cursor):
    return literal(cursor.issued_at, Invoice.issued_at.type)


def invoice_page(f: InvoiceFilter, cursor: Cursor | None) -> InvoicePage:
    """One page of matching invoices, newest first, from ``cursor`` (the first page
    without one); empty when nothing lies on the cursor's side."""
    rows = list(db.session.execute(list_statement(f, cursor)).all())
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if cursor is not None and not cursor.older:
        rows.reverse()
        # Reached through a Newer link: something older lies past its last row.
        newer_beyond, older_beyond = more, True
    else:
        newer_beyond, older_beyond = cursor is not None, more
    if not rows:
        return InvoicePage(rows=[], older=None, newer=None)
    return InvoicePage(
        rows=rows,
        older=Cursor.of_row(rows[-1], older=True) if older_beyond else None,
        newer=Cursor.of_row(rows[0], older=False) if newer_beyond else None,
    )


def export_rows(f: InvoiceFilter) -> Iterator[Row]:
    """Every matching invoice with its payment, patient and VAT, fetched in batches.

    ``yield_per`` makes PostgreSQL use a server-side cursor, so an export of
    100,000 invoices holds one batch in memory at a time. The query runs on the
    first ``next()``, inside the streamed response: the view's own session is
    closed as soon as the view returns, taking any open cursor with it.
    """
    # Pesos refunded per invoice, summed once for the whole file and joined (a full export
    # reads every credit memo anyway; a per-row look-up would probe the index a million times).
    refunded = (
        select(CreditMemo.invoice_id, func.sum(CreditMemo.amount).label("refunded_amount"))
        .group_by(CreditMemo.invoice_id)
        .subquery("refunded")
    )
    stmt = (
        _list_statement(f, refunds=False)
        .add_columns(
            refunded.c.refunded_amount,
            Payment.transaction_id,
            # Money the provider took that the payment could not (a charge after a cancel):
            # the pesos to refund and the latest such charge's transaction id.
            select(func.sum(REPORTED_CHARGE_AMOUNT))
            .where(PaymentEvent.payment_id == Payment.id, IS_REPORTED_CHARGE)
            .scalar_subquery()
            .label("charges_to_refund"),
            select(PaymentEvent.data["transaction_id"].as_string())
            .where(PaymentEvent.payment_id == Payment.id, IS_REPORTED_CHARGE)
            .order_by(PaymentEvent.id.desc())
            .limit(1)
            .scalar_subquery()
            .label("charge_transaction_id"),
            Payment.currency,
            TaxRecord.taxable_base.label("vatable_amount"),
            TaxRecord.amount.label("vat_amount"),
            TaxRecord.rate.label("vat_rate"),
        )
        .outerjoin(TaxRecord, TaxRecord.payment_id == Payment.id)
        .outerjoin(refunded, refunded.c.invoice_id == Invoice.id)
        .order_by(Invoice.issued_at.desc(), Invoice.id.desc())
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
