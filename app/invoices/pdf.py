"""The invoice as a PDF, the file a cashier hands or sends to a patient.

WeasyPrint lays out the same HTML and print stylesheet as the printed page (A4), so the PDF
shows exactly the fields the screen does (docs/invoices.md). It reads only the app's own
stylesheet: the fetcher refuses every other address, so nothing in an invoice can make the
server fetch a URL.
"""

from __future__ import annotations

from flask import Response, abort, render_template
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from app import audit
from app.auth.roles import requires_role
from app.config import RESOURCES
from app.invoices import bp, queries
from app.invoices.filters import INVOICE_NUMBER
from app.models import AuditAction, Role

STYLESHEET = (RESOURCES / "static" / "css" / "app.css").as_uri()


class _OwnStylesheetOnly(URLFetcher):
    def fetch(self, url, headers=None):
        if url != STYLESHEET:
            raise ValueError(f"The invoice PDF reads only its own stylesheet, not {url}")
        return super().fetch(url, headers)


def invoice_pdf(html: str) -> bytes:
    """``html`` (templates/invoices/pdf.html) laid out as an A4 PDF."""
    return HTML(string=html, url_fetcher=_OwnStylesheetOnly()).write_pdf()


@bp.get("/invoices/<number>.pdf")
@requires_role(Role.CASHIER)
def download_pdf(number: str):
    """The invoice as a PDF download.

    :raise 404: no invoice has this number.
    """
    if not INVOICE_NUMBER.match(number):
        abort(404)
    detail = queries.invoice_detail(number.upper())
    if detail is None:
        abort(404)
    html = render_template("invoices/pdf.html", invoice=detail.invoice, stylesheet=STYLESHEET)
    document = invoice_pdf(html)
    # A staff member read the patient's invoice: one audit row, committed before it is sent.
    audit.viewed(AuditAction.INVOICE_VIEWED, payment=detail.invoice.payment, format="pdf")
    return Response(
        document,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{detail.invoice.invoice_number}.pdf"'},
    )
