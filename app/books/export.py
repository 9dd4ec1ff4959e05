"""The day's books as CSV, in the invoice export's conventions (``app.invoices.export``):
a UTF-8 byte-order mark, RFC 4180 quoting with CRLF, plain decimal pesos (``1120.00``),
and any text cell that starts like a formula prefixed with an apostrophe.

One line per figure: ``section,item,count,amount,first_serial,last_serial``, so a
spreadsheet can sum the ``amount`` of the lines it picks. Closing times are ISO 8601 in
clinic time with the offset.
"""

from __future__ import annotations

import csv
import io

from app.books.closing import Books
from app.formatting import local_iso
from app.invoices.export import BYTE_ORDER_MARK, spreadsheet_text

HEADER = ("section", "item", "count", "amount", "first_serial", "last_serial")


def csv_text(books: Books) -> str:
    """The books of one day (a few dozen lines: one string)."""
    f = books.figures
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    rows = [
        ("day", f.day.isoformat(), "", "", "", ""),
        ("branch", spreadsheet_text(f.branch_code), "", "", "", ""),
        ("invoices", "issued", f.invoice_count, "",
         spreadsheet_text(f.first_invoice), spreadsheet_text(f.last_invoice)),
        ("sales", "gross", "", f.gross, "", ""),
        ("sales", "vatable_sales", "", f.vatable_sales, "", ""),
        ("sales", "vat_exempt_sales", "", f.vat_exempt_sales, "", ""),
        ("sales", "vat", "", f.vat, "", ""),
        ("sales", "sc_pwd_discounts", "", f.discounts, "", ""),
        ("sales", "net", f.invoice_count, f.net, "", ""),
    ]  # fmt: skip
    rows += [("net_by_method", m.method, m.count, m.amount, "", "") for m in f.by_method]
    rows += [
        ("credit_memos", "issued", f.memo_count, f.memo_amount,
         spreadsheet_text(f.first_memo), spreadsheet_text(f.last_memo)),
        ("credit_memos", "refund_refused", f.memos_refused, f.memo_refused_amount, "", ""),
        ("credit_memos", "refund_pending", f.memos_pending, f.memo_pending_amount, "", ""),
        ("credit_memos", "refunded", "", f.refunded, "", ""),
        ("pending", "payments", f.pending_count, f.pending_amount, "", ""),
        ("charges_to_refund", "taken", f.charges_count, f.charges_amount, "", ""),
    ]  # fmt: skip
    if books.closing is not None:
        closing = books.closing
        rows.append(("closed", local_iso(closing.closed_at.replace(microsecond=0)), "", "", "", ""))
        rows.append(("closed_by", spreadsheet_text(closing.closed_by_name), "", "", "", ""))
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return buffer.getvalue()
