"""The BIR's record of senior citizen and PWD discounts, as a staff page and a CSV.

RR 7-2010 §7(6) as amended by RR 11-2015 (senior citizens) and RR 5-2017 (PWD): a separate
record of the discounted sales with the holder's name and ID number, the date, the invoice,
the gross sale, the discount and the net. One row per sale the clinic made, that is per
payment captured (completed, or refunded later: a refund is a credit memo against the
invoice and leaves the sale in the record). Amounts in pesos.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.formatting import clinic_tz, local_iso
from app.invoices.export import spreadsheet_text as _text
from app.models import Invoice, Payment, PaymentStatus, SaleDiscount, money

SOLD = (PaymentStatus.COMPLETED.value, PaymentStatus.REFUNDED.value)

HEADER = (
    "date",
    "invoice",
    "holder_name",
    "kind",
    "id_number",
    "gross",
    "vat_exempt_sales",
    "discount",
    "net",
    "payment_status",
)


@dataclass(frozen=True)
class LogEntry:
    sold_at: datetime
    invoice: str
    holder_name: str
    kind: str
    id_number: str
    gross: Decimal
    vat_exempt_sales: Decimal
    discount: Decimal
    net: Decimal
    payment_status: str


@dataclass(frozen=True)
class DiscountLog:
    """The entries of ``first``..``last`` (clinic days, inclusive), oldest first, and totals."""

    first: date
    last: date
    entries: tuple[LogEntry, ...]

    @property
    def gross(self) -> Decimal:
        return sum((e.gross for e in self.entries), Decimal("0.00"))

    @property
    def discount(self) -> Decimal:
        return sum((e.discount for e in self.entries), Decimal("0.00"))

    @property
    def net(self) -> Decimal:
        return sum((e.net for e in self.entries), Decimal("0.00"))


def discount_log(first: date, last: date) -> DiscountLog:
    """The discounted sales made from ``first`` to ``last``, clinic days (CLINIC_TIMEZONE),
    each named by its sales invoice serial (issued at capture)."""
    zone = clinic_tz()
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    rows = db.session.execute(
        select(SaleDiscount, Payment.completed_at, Payment.status, Invoice.serial_number)
        .join(Payment, Payment.id == SaleDiscount.payment_id)
        .join(Invoice, Invoice.payment_id == Payment.id)
        .where(
            Payment.status.in_(SOLD),
            Payment.completed_at >= start,
            Payment.completed_at < end,
        )
        .order_by(Payment.completed_at, Payment.id)
    ).all()
    entries = tuple(
        LogEntry(
            completed_at,
            number,
            d.holder_name,
            d.kind,
            d.id_number,
            money(d.gross),
            money(d.vat_exempt_sales),
            money(d.discount),
            money(d.net),
            status,
        )  # fmt: skip
        for d, completed_at, status, number in rows
    )
    return DiscountLog(first, last, entries)


def csv_text(log: DiscountLog) -> str:
    """The log as CSV (RFC 4180, CRLF): ISO 8601 clinic times, plain decimal pesos. One
    string: a period's discounted sales are few, and the rows are already read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for e in log.entries:
        writer.writerow(
            (
                local_iso(e.sold_at),
                e.invoice,
                _text(e.holder_name),
                e.kind,
                _text(e.id_number),
                str(e.gross),
                str(e.vat_exempt_sales),
                str(e.discount),
                str(e.net),
                e.payment_status,
            )  # fmt: skip
        )
    return buffer.getvalue()
