"""The invoice list as CSV, one line at a time.

Amounts are plain decimals (``5000.00``) so spreadsheets sum them; the VAT
columns are the three numbers every page shows (VATable amount + VAT = amount).
``refunded_amount`` is what its credit memos gave back (empty: nothing), so a partly refunded
invoice reads "paid 5000.00, refunded 500.00". ``charges_to_refund`` and
``charge_transaction_id``: money the provider took that the payment could not (approved after
it was cancelled, a second charge), which the settlement includes; a void invoice's
``transaction_id`` is that charge's.
Times are ISO 8601 in clinic time with the offset, to the second (``2026-12-01T10:30:00+08:00``).
Text a patient typed (a name) that starts like a formula is prefixed with an apostrophe, so
opening the file in a spreadsheet never runs it. The file starts with a UTF-8 byte-order
mark: without one, Excel on Windows reads UTF-8 as its ANSI code page ("PeÃ±a" for "Peña").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Row

from app.formatting import local_iso
from app.models import money

HEADER = (
    "invoice_number",
    "issued_at",
    "paid_at",
    "invoice_status",
    "amount",
    "currency",
    "vat_rate",
    "vatable_amount",
    "vat_amount",
    "payment_method",
    "payment_status",
    "transaction_id",
    "patient_name",
    "patient_email",
    "doctor",
    "consultation_at",
    "refunded_amount",
    "charges_to_refund",
    "charge_transaction_id",
)
CHUNK_SIZE = 64 * 1024
BYTE_ORDER_MARK = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


#: For other CSV files of staff- or patient-typed text (app/discounts/log.py).
spreadsheet_text = _text


def _amount(value: Decimal | None) -> str:
    return "" if value is None else str(money(value))


def _time(value: datetime | None) -> str:
    return "" if value is None else local_iso(value.replace(microsecond=0))


def _fields(row: Row) -> tuple[str, ...]:
    return (
        row.invoice_number,
        _time(row.issued_at),
        _time(row.paid_at),
        row.status,
        _amount(row.amount),
        row.currency,
        "" if row.vat_rate is None else str(row.vat_rate.normalize()),
        _amount(row.vatable_amount),
        _amount(row.vat_amount),
        row.payment_method,
        row.payment_status,
        # The payment's own capture; else the charge the provider took after it was closed.
        _text(row.transaction_id or row.charge_transaction_id),
        _text(row.patient_name),
        _text(row.patient_email),
        _text(row.doctor_name),
        _time(row.scheduled_at),
        _amount(row.refunded_amount),
        _amount(row.charges_to_refund),
        _text(row.charge_transaction_id),
    )


def csv_lines(rows: Iterable[Row], chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """A byte-order mark, the header, then the rows, as CSV text (RFC 4180 quoting, CRLF
    line ends).

    Lines are sent in chunks of about ``chunk_size`` characters: one write per
    row would cost the server a system call per invoice.
    """
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(_fields(row))
        if buffer.tell() >= chunk_size:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
