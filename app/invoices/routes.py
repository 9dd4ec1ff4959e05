"""Staff invoice pages. Thin: parse the query string, call one query, render.

Staff only, for the whole blueprint: anonymous visitors are sent to the login
page, patients get 403 (even for their own invoice: theirs is on the payment page).
Each route also states its least role (``requires_role``): cashiers find, open, print
and export; refunds and deletions are a manager's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

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
from flask_babel import gettext
from flask_login import current_user

from app import audit
from app.auth.roles import requires_role
from app.extensions import db, login_manager
from app.formatting import RefundNote, clinic_tz, format_money, refund_note, status_word
from app.htmx import current_page, is_htmx
from app.i18n import N_, translated
from app.invoices import bp, export, form_state, history, queries, refusals
from app.invoices.attention import needs_attention, refunds_not_returned
from app.invoices.filters import (
    EARLIEST,
    FIELD_LABELS,
    INVOICE_NUMBER,
    LATEST,
    STATUSES,
    Cursor,
    InvalidFilter,
    InvoiceFilter,
    parse_filter,
    parse_list_args,
)
from app.invoices.forms import DeleteForm, RefundForm
from app.models import AuditAction, PaymentMethod, PaymentStatus, Role
from app.pages import page_for
from app.payments import lifecycle, refunds
from app.payments.errors import PaymentError
from app.payments.events import PaymentEventType
from app.payments.records import memo_failed
from app.payments.requests import MAX_REASON_LENGTH

RESULTS_TARGET = "invoice-results"
#: Sent by the filter's text boxes while typing (templates/invoices/_filter_form.html).
TYPING_HEADER = "X-Filter-Typing"


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
@requires_role(Role.CASHIER)
def list_invoices():
    """Invoices, newest first, 50 a page, filtered by the query string; ``page`` is the
    cursor of a Newer or Older link (``filters.Cursor``: a damaged one is a 400, one with
    nothing on its side sends to the first page, the only one with the filter's totals).

    An htmx request aimed at the results returns just that fragment; everything else
    (plain GET, bookmark, htmx history restore) gets the whole page.
    """
    template = "invoices/_results.html" if _wants_results_only() else "invoices/list.html"
    try:
        invoice_filter, cursor = parse_list_args(request.args)
    except InvalidFilter as exc:
        response = _render(template, status=400, errors=exc.errors)
    else:
        url = _canonical_url(invoice_filter, cursor)
        if not is_htmx() and "" in (v.strip() for v in request.args.values()):
            # The plain GET form sends every field, empty or not: keep only what filters.
            return redirect(url)
        page = queries.invoice_page(invoice_filter, cursor)
        if cursor is not None and not page.rows:
            # Nothing on the cursor's side: the first page, not an empty table with no way on.
            return redirect(_canonical_url(invoice_filter, None))
        # The totals read every matching invoice; a page reached by a link costs its 51 rows.
        totals = queries.totals(invoice_filter) if cursor is None else None
        response = _render(template, invoice_filter=invoice_filter, totals=totals, page=page)
        response.headers[_history_header(url)] = url
    response.vary.add("HX-Request")
    return response


def _canonical_url(invoice_filter: InvoiceFilter, cursor: Cursor | None) -> str:
    # The form sends every field, empty or not; the address bar gets only what filters.
    page_arg = {"page": cursor.token()} if cursor is not None else {}
    return url_for("invoices.list_invoices", **invoice_filter.query_args(), **page_arg)


def _history_header(url: str) -> str:
    """A history entry only for a finished search: a change, a submit, a page link.

    While a text box is being typed in (its requests carry ``X-Filter-Typing``), or when
    the search is the one already shown, the address bar is replaced instead, so Back
    steps through searches, not keystrokes.
    """
    if request.headers.get(TYPING_HEADER) == "true" or url == current_page():
        return "HX-Replace-Url"
    return "HX-Push-Url"


def _wants_results_only() -> bool:
    return (
        is_htmx()
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
        earliest=EARLIEST,
        latest=LATEST,
        errors=errors or {},
        **context,
    )
    return Response(html, status=status)


@bp.get("/invoices/<number>")
@requires_role(Role.CASHIER)
def show_invoice(number: str):
    """One invoice, its payment and the payment's full history; a refund form while
    something is left to refund, a delete form when the payment moved no money. A form a
    POST refused comes back once, with its errors and the refusal's status (form_state).

    :raise 404: no invoice has this number.
    """
    detail = _detail_or_404(number)
    refused, status = form_state.take_refused(
        number.upper(), {"refund_form": RefundForm, "delete_form": DeleteForm}
    )
    refund_form = refused.get("refund_form") or RefundForm()
    left = _refundable(detail)
    if refund_form.amount.data is None:
        refund_form.amount.data = f"{left:.2f}"
    page = render_template(
        "invoices/detail.html",
        invoice=detail.invoice,
        refundable=left,
        history=history.history(detail.events, detail.actors),
        receipt_url=history.receipt_link(detail.invoice.payment),
        refund_notes=_refund_notes(detail),
        deleted=_deleted_note(detail),
        refund_form=refund_form,
        delete_form=refused.get("delete_form") or DeleteForm(),
        can_delete=lifecycle.deletable(detail.invoice.payment),
        transaction_ids=lifecycle.charge_transaction_ids(detail.invoice.payment),
        max_reason=MAX_REASON_LENGTH,
    )
    # After rendering (a commit expires what the page reads), before anything is sent.
    audit.viewed(AuditAction.INVOICE_VIEWED, payment=detail.invoice.payment)
    return page, status


def _back_to_invoice(detail: queries.InvoiceDetail, form_name: str, form, status: int):
    """Keep the refused ``form`` for the invoice page and send the browser there (303)."""
    number = detail.invoice.invoice_number
    form_state.keep_refused(number, form_name, form, status)
    return redirect(url_for("invoices.show_invoice", number=number), 303)


def _refund_notes(detail: queries.InvoiceDetail) -> list[RefundNote]:
    """One refund sentence per credit memo, each naming the staff member who issued it."""
    return [
        replace(refund_note(memo), by=history.actor_name(memo.actor, detail.actors))
        for memo in detail.invoice.credit_memos
        if not memo_failed(memo)
    ]


def _deleted_note(detail: queries.InvoiceDetail) -> dict | None:
    event = history.last_event(detail.events, PaymentEventType.DELETED)
    if detail.invoice.payment.deleted_at is None or event is None:
        return None
    return {
        "at": detail.invoice.payment.deleted_at,
        "by": history.actor_name(event.actor, detail.actors),
        "reason": (event.data or {}).get("reason", ""),
    }


@bp.post("/invoices/<number>/refund/confirm")
@requires_role(Role.MANAGER)
def confirm_refund(number: str):
    """Step one of a refund: ask first, showing the amount, the patient and the method.

    Works without JavaScript; nothing changes until the confirmation page's own POST.

    :raise 404: no invoice has this number.  :raise 422: no reason given (shown in the page).
    :raise 409: the payment is not completed (shown in the page).
    """
    detail = _detail_or_404(number)
    form = RefundForm()
    if not form.validate_on_submit():
        return _back_to_invoice(detail, "refund_form", form, 422)
    payment = detail.invoice.payment
    if payment.status != PaymentStatus.COMPLETED:
        flash(
            gettext(
                "This payment is %(status)s and cannot be refunded.",
                status=status_word(payment.status),
            ),
            "error",
        )
        return _back_to_invoice(detail, "refund_form", form, 409)
    left = _refundable(detail)
    amount = Decimal(form.amount.data) if form.amount.data else left
    if amount > left:
        form.amount.errors = [
            gettext("At most %(amount)s is left to refund.", amount=format_money(left))
        ]
        return _back_to_invoice(detail, "refund_form", form, 422)
    number = detail.invoice.invoice_number
    form_state.keep_to_confirm(number, amount, form.reason.data, payment.version)
    return redirect(url_for("invoices.show_refund_confirmation", number=number), 303)


@bp.get("/invoices/<number>/refund/confirm")
@requires_role(Role.MANAGER)
def show_refund_confirmation(number: str):
    """The confirmation page of the refund staff asked for (``confirm_refund``); reloading
    it, or switching its language, shows it again and changes nothing.

    :raise 404: no invoice has this number.
    """
    detail = _detail_or_404(number)
    asked = form_state.to_confirm(detail.invoice.invoice_number)
    if asked is None:
        return redirect(url_for("invoices.show_invoice", number=detail.invoice.invoice_number))
    form = RefundForm(formdata=None, data=asked)
    amount = Decimal(asked["amount"])
    return render_template(
        "invoices/refund_confirm.html",
        invoice=detail.invoice,
        form=form,
        amount=amount,
        whole=amount == _refundable(detail),
    )


@bp.post("/invoices/<number>/refund")
@requires_role(Role.MANAGER)
def refund(number: str):
    """Refund the amount the confirmation page showed, with its reason: one credit memo and
    one provider request; posting the same page again is refused (the payment's version).

    The confirmation page posts here (``confirm_refund`` asks first).

    :raise 404: no invoice has this number.  :raise 422: no reason given (shown in the page).
    :raise 409: the payment is not completed, or changed since (shown in the page).
    """

    def refund_as_shown(payment_id, reason, *, actor):
        version = refund_form.version.data or ""
        return lifecycle.refund(
            payment_id,
            reason,
            actor,
            amount=refund_form.amount.data or None,
            expected_version=int(version) if version.isdigit() else None,
        )

    refund_form = RefundForm()
    return _change_payment(
        number,
        refund_form,
        "refund_form",
        refund_as_shown,
        (
            N_("Refund recorded: a credit memo was issued."),
            N_("This payment was already refunded."),
        ),
    )


def _refundable(detail: queries.InvoiceDetail) -> Decimal:
    """Pesos left to refund of the invoice's payment (``refunds.refundable``)."""
    return refunds.refundable(db.session, detail.invoice.payment)


@bp.post("/invoices/<number>/delete/confirm")
@requires_role(Role.MANAGER)
def confirm_delete(number: str):
    """Step one of a deletion: ask first, showing what goes out of the lists and why.

    :raise 404: no invoice has this number.  :raise 422: no reason given (shown in the page).
    :raise 409: the payment moved money or may still be paid, or is already deleted
        (shown in the page).
    """
    detail = _detail_or_404(number)
    form = DeleteForm()
    if not form.validate_on_submit():
        return _back_to_invoice(detail, "delete_form", form, 422)
    payment = detail.invoice.payment
    if payment.deleted_at is not None:
        flash(gettext("This payment was already deleted."), "error")
        return _back_to_invoice(detail, "delete_form", form, 409)
    if not lifecycle.deletable(payment):
        # Spares staff a confirmation page for a deletion ``lifecycle.delete`` would refuse.
        flash(refusals.not_deletable(payment.id, payment.status), "error")
        return _back_to_invoice(detail, "delete_form", form, 409)
    number = detail.invoice.invoice_number
    form_state.keep_delete_to_confirm(number, form.reason.data, payment.version)
    return redirect(url_for("invoices.show_delete_confirmation", number=number), 303)


@bp.get("/invoices/<number>/delete/confirm")
@requires_role(Role.MANAGER)
def show_delete_confirmation(number: str):
    """The confirmation page of the deletion staff asked for (``confirm_delete``);
    reloading it, or switching its language, shows it again and changes nothing.

    :raise 404: no invoice has this number.
    """
    detail = _detail_or_404(number)
    asked = form_state.delete_to_confirm(detail.invoice.invoice_number)
    if asked is None or not lifecycle.deletable(detail.invoice.payment):
        # Nothing asked, or the payment took money since it was asked: no deletion to confirm.
        return redirect(url_for("invoices.show_invoice", number=detail.invoice.invoice_number))
    return render_template(
        "invoices/delete_confirm.html",
        invoice=detail.invoice,
        form=DeleteForm(formdata=None, data=asked),
    )


@bp.post("/invoices/<number>/delete")
@requires_role(Role.MANAGER)
def delete(number: str):
    """Soft-delete the invoice's payment, which moved no money, with a reason.

    The confirmation page posts here (``confirm_delete`` asks first).

    :raise 404: no invoice has this number.  :raise 422: no reason given (shown in the page).
    :raise 409: the payment moved money or may still be paid (the service refuses; shown
        in the page).
    """
    return _change_payment(
        number,
        DeleteForm(),
        "delete_form",
        lifecycle.delete,
        (
            N_("Payment deleted: it no longer appears in the list or the totals."),
            N_("This payment was already deleted."),
        ),
    )


def _change_payment(number: str, form, form_name: str, change, said: tuple[str, str]):
    """Validate the reason form, call the lifecycle ``change`` as the staff member, and go
    back to the invoice saying what happened (``said``: changed, already so); a refusal is
    kept for the invoice page, which shows it with its status (app/pages.py)."""
    detail = _detail_or_404(number)
    if not form.validate_on_submit():
        return _back_to_invoice(detail, form_name, form, 422)
    try:
        done = change(
            detail.invoice.payment_id, form.reason.data, actor=current_user._get_current_object()
        )
    except PaymentError as error:
        flash(refusals.refusal(error), "error")
        return _back_to_invoice(detail, form_name, form, page_for(error).status)
    form_state.forget_to_confirm()
    flash(gettext(said[0] if done.changed else said[1]), "info")
    return redirect(url_for("invoices.show_invoice", number=detail.invoice.invoice_number), 303)


def _detail_or_404(number: str) -> queries.InvoiceDetail:
    if not INVOICE_NUMBER.match(number):
        abort(404)
    detail = queries.invoice_detail(number.upper())
    if detail is None:
        abort(404)
    return detail


@bp.get("/invoices.csv")
@requires_role(Role.CASHIER)
def export_csv():
    """The current filter as a CSV download, streamed row batch by row batch."""
    try:
        invoice_filter = parse_filter(request.args)
    except InvalidFilter as exc:
        detail = " ".join(
            f"{translated(FIELD_LABELS[field])}: {translated(msg)}"
            for field, msg in exc.errors.items()
        )
        return render_template("error.html", title=N_("Invalid filter"), detail=detail), 400
    audit.viewed(
        AuditAction.INVOICES_EXPORTED,
        filter=invoice_filter.query_args(),
        rows=queries.totals(invoice_filter).count,
    )
    rows = queries.export_rows(invoice_filter)
    filename = f"invoices-{datetime.now(clinic_tz()):%Y-%m-%d}.csv"
    return Response(
        stream_with_context(export.csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/attention")
@requires_role(Role.CASHIER)
def attention():
    """Charges to refund, amount mismatches, provider reports not applied, stale payments."""
    items = needs_attention(current_app.config["PAYMENT_PENDING_TTL"])
    return render_template(
        "invoices/attention.html",
        attention=items,
        methods=PaymentMethod,
        refunds=refunds_not_returned(),
    )
