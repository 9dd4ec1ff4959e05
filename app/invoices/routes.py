"""Staff invoice pages. Thin: parse the query string, call one query, render.

Staff only, for the whole blueprint: anonymous visitors are sent to the login
page, patients get 403 (even for their own invoice: theirs is on the payment page).
"""

from __future__ import annotations

from datetime import datetime

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from app.display import clinic_tz
from app.extensions import login_manager
from app.invoices import bp, display, export, queries
from app.invoices.attention import needs_attention, refunds_not_returned
from app.invoices.filters import (
    FIELD_LABELS,
    INVOICE_NUMBER,
    STATUSES,
    InvalidFilter,
    InvoiceFilter,
    parse_filter,
    parse_list_args,
)
from app.invoices.forms import RefundForm
from app.models import PaymentMethod
from app.pages import page_for
from app.payments import lifecycle
from app.payments.errors import PaymentError

RESULTS_TARGET = "invoice-results"


@bp.before_request
def staff_only():
    """Anonymous: redirect to login (with ``next``). Patients: 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)
    return None


@bp.after_request
def private(response: Response) -> Response:
    # Patient names and amounts: no shared cache or back-button cache may keep them.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


@bp.get("/invoices")
def list_invoices():
    """Invoices, newest first, 50 a page, filtered by the query string.

    An htmx request aimed at the results returns just that fragment; everything
    else (plain GET, bookmark, htmx history restore) gets the whole page.
    """
    template = "invoices/_results.html" if _wants_results_only() else "invoices/list.html"
    try:
        invoice_filter, page_number = parse_list_args(request.args)
    except InvalidFilter as exc:
        response = _render(template, status=400, errors=exc.errors)
    else:
        totals = queries.totals(invoice_filter)
        page = queries.invoice_page(invoice_filter, page_number, totals.count)
        response = _render(template, invoice_filter=invoice_filter, totals=totals, page=page)
        response.headers["HX-Push-Url"] = _canonical_url(invoice_filter, page_number)
    response.vary.add("HX-Request")
    return response


def _canonical_url(invoice_filter: InvoiceFilter, page_number: int) -> str:
    # The form sends every field, empty or not; the address bar gets only what filters.
    page_arg = {"page": page_number} if page_number > 1 else {}
    return url_for("invoices.list_invoices", **invoice_filter.query_args(), **page_arg)


def _wants_results_only() -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == RESULTS_TARGET
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def _render(template: str, *, status: int = 200, errors: dict | None = None, **context) -> Response:
    html = render_template(
        template,
        values=request.args,
        results_target=RESULTS_TARGET,
        statuses=STATUSES,
        methods=PaymentMethod,
        field_labels=FIELD_LABELS,
        errors=errors or {},
        **context,
    )
    return Response(html, status=status)


@bp.get("/invoices/<number>")
def show_invoice(number: str, refund_form: RefundForm | None = None, status: int = 200):
    """One invoice, its payment and the payment's full history; a refund form once paid.

    :raise 404: no invoice has this number.
    """
    detail = _detail_or_404(number)
    html = render_template(
        "invoices/detail.html",
        invoice=detail.invoice,
        history=display.history(detail.events, detail.actors),
        receipt_url=display.receipt_link(detail.invoice.payment),
        refund_form=refund_form or RefundForm(),
    )
    return html, status


@bp.post("/invoices/<number>/refund")
def refund(number: str):
    """Refund the invoice's completed payment, with a reason; repeating changes nothing.

    :raise 404: no invoice has this number.  :raise 422: no reason given (shown in the page).
    :raise 409: the payment is not completed (shown in the page).
    """
    detail = _detail_or_404(number)
    form = RefundForm()
    if not form.validate_on_submit():
        return show_invoice(number, refund_form=form, status=422)
    try:
        done = lifecycle.refund(
            detail.invoice.payment_id, form.reason.data, actor=current_user._get_current_object()
        )
    except PaymentError as error:
        flash(error.detail, "error")
        return show_invoice(number, refund_form=form, status=page_for(error).status)
    flash("Payment refunded." if done.changed else "This payment was already refunded.", "info")
    return redirect(url_for("invoices.show_invoice", number=detail.invoice.invoice_number), 303)


def _detail_or_404(number: str) -> queries.InvoiceDetail:
    if not INVOICE_NUMBER.match(number):
        abort(404)
    detail = queries.invoice_detail(number.upper())
    if detail is None:
        abort(404)
    return detail


@bp.get("/invoices.csv")
def export_csv():
    """The current filter as a CSV download, streamed row batch by row batch."""
    try:
        invoice_filter = parse_filter(request.args)
    except InvalidFilter as exc:
        detail = " ".join(f"{FIELD_LABELS[field]}: {msg}" for field, msg in exc.errors.items())
        return render_template("error.html", title="Invalid filter", detail=detail), 400
    rows = queries.export_rows(invoice_filter)
    filename = f"invoices-{datetime.now(clinic_tz()):%Y-%m-%d}.csv"
    return Response(
        stream_with_context(export.csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/attention")
def attention():
    """Charges to refund, amount mismatches, provider reports not applied, stale payments."""
    items = needs_attention(current_app.config["PAYMENT_PENDING_TTL"])
    return render_template(
        "invoices/attention.html",
        attention=items,
        methods=PaymentMethod,
        refunds=refunds_not_returned(),
    )
