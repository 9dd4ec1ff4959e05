"""The patient's pages. Thin: look up, call the payment service, answer (see responses.py)."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from app import audit
from app.auth.sessions import session_user_id
from app.checkout import bp
from app.checkout.forms import CancelForm, CheckoutForm
from app.checkout.queries import (
    charges_to_refund,
    consultations_with_payments,
    open_payment,
    patient_consultation,
    refunded_payment,
    visible_payment,
)
from app.checkout.responses import (
    after_payment,
    already_started_notice,
    app_fragment,
    checkout_form,
    checkout_page,
    forget_notices,
    go_to,
    hosted_checkout,
    preparing_page,
)
from app.checkout.tokens import CheckoutTokenError, current_tokens, idempotency_key
from app.gateway.provider import current_gateway
from app.models import AuditAction, Payment, PaymentStatus
from app.pages import PAYMENT_ALREADY_CANCELLED, PAYMENT_CANCELLED, cancel_refusal, page_for
from app.payments import checkout_session, lifecycle, service
from app.payments.errors import (
    CheckoutPreparing,
    InvalidPaymentRequest,
    InvalidTransition,
    PaymentsBusy,
)
from app.payments.events import PaymentEventType
from app.payments.lifecycle import is_stale
from app.payments.ratelimit import payment_limit
from app.payments.requests import PaymentRequest, parse_payment_request


@bp.after_request
def never_store_personal_pages(response: Response) -> Response:
    # Consultations, payments and one-use form tokens: no cache (and no Back
    # button from the cache) may show them stale or to someone else.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/")
@login_required
def index():
    """My consultations, each with a Pay link or its payment's state; staff go to the invoices."""
    if current_user.is_staff:
        return redirect(url_for("invoices.list_invoices"))
    forget_notices()
    return render_template("checkout/index.html", rows=consultations_with_payments(current_user))


@bp.get("/consultations/<int:consultation_id>/checkout")
@login_required
def checkout(consultation_id: int):
    """The fee, the VAT line and the Pay form; or the payment, if one is already under way.

    :raise 404: not this patient's consultation.  :raise 403: staff.
    """
    consultation = patient_consultation(current_user, consultation_id)
    forget_notices()
    payment = open_payment(consultation)
    refunded = None if payment else refunded_payment(consultation)
    form = None if payment or refunded else checkout_form(consultation)
    return checkout_page(consultation, payment=payment, refunded=refunded, form=form)


@bp.post("/consultations/<int:consultation_id>/checkout")
@payment_limit(session_user_id)
def pay(consultation_id: int):
    """Pay with the form's token as the idempotency key; go to the payment page.

    A complete submit is handed to the payment service knowing only the user's id: the
    session's token names the user (its user id cached, ``app/auth/sessions.py``) and the
    signed form token binds that user and consultation. The service checks the
    consultation itself, and answers a repeat of a finished submit (a double click, Back
    then Pay) from Redis before reading anything from the database. Anything else (signed
    out, an incomplete form, an expired token) goes the long way, which explains it.

    :raise 404 / 403: as for the page.  :raise 400: expired page or form token.
    :raise 409 / 422 / 503: shown inside the form (responses.py).
    """
    user_id = session_user_id()
    req = _submitted_request(user_id, consultation_id) if user_id is not None else None
    if req is None:
        return _pay(consultation_id)
    return after_payment(service.create_payment(user_id, req))


def _submitted_request(user_id: int, consultation_id: int) -> PaymentRequest | None:
    """The payment request of a complete submit whose form token is this user's for this
    consultation, or None (then ``_pay`` decides, checks and explains everything)."""
    form = CheckoutForm()
    if not form.validate_on_submit():
        return None
    try:
        nonce = current_tokens().verify(form.checkout_token.data, user_id, consultation_id)
        return parse_payment_request(
            consultation_id=consultation_id,
            payment_method=form.payment_method.data,
            amount=form.amount.data or None,
            idempotency_key=idempotency_key(nonce, form.payment_method.data),
        )
    except (CheckoutTokenError, InvalidPaymentRequest):
        return None


@login_required
def _pay(consultation_id: int):
    consultation = patient_consultation(current_user, consultation_id)
    form = CheckoutForm()
    if not form.validate_on_submit():
        raise InvalidPaymentRequest("The checkout form is not complete.", errors=form.errors)
    nonce = current_tokens().verify(form.checkout_token.data, current_user.id, consultation.id)
    # The amount the page showed: a price changed since is refused (responses.py says why).
    req = parse_payment_request(
        consultation_id=consultation.id,
        payment_method=form.payment_method.data,
        amount=form.amount.data or None,
        idempotency_key=idempotency_key(nonce, form.payment_method.data),
    )
    return after_payment(service.create_payment(current_user._get_current_object(), req))


@bp.get("/payments/<int:payment_id>")
@login_required
def payment(payment_id: int):
    """Status, amount, method, invoice, times, the next step; a receipt once paid.

    Where the provider sends the patient back. While the payment is open (pending or
    processing) the page polls ``payment_status`` and shows the provider's answer
    without a reload.

    :raise 404: not this patient's payment (staff may open any).
    """
    found = visible_payment(current_user, payment_id)
    page = render_template(
        "checkout/payment.html", notice=already_started_notice(found), **_payment_context(found)
    )
    if current_user.is_staff:
        # After rendering (a commit expires what the page reads), before anything is sent.
        audit.viewed(AuditAction.PAYMENT_VIEWED, payment=found)
    return page


@bp.get("/payments/<int:payment_id>/status")
@login_required
def payment_status(payment_id: int):
    """The payment page's live part, for htmx polling every few seconds.

    ``?v=<version>``: the version the page shows. While the payment is open and still at
    that version: ``204 No Content`` (nothing to swap; the page polls on). Otherwise the
    fragment, which polls on only while the payment is open, so polling stops at a final
    state.

    :raise 404: not this patient's payment (staff may open any).
    """
    found = visible_payment(current_user, payment_id)
    context = _payment_context(found)
    if context["polling"] and request.args.get("v", type=int) == found.version:
        return Response(status=204)
    return app_fragment(render_template("checkout/_payment_live.html", **context))


@bp.post("/payments/<int:payment_id>/cancel")
@login_required
def cancel(payment_id: int):
    """Cancel the patient's own pending payment, then offer the Pay form again.

    The lifecycle decides under the consultation's and the payment's locks; when the
    payment moved on first (paid, declined, being confirmed), the payment page says so.

    :raise 404: not this patient's payment.  :raise 400: expired page (CSRF).
    """
    found = visible_payment(current_user, payment_id)
    here = url_for("checkout.payment", payment_id=found.id)
    if not CancelForm().validate_on_submit():
        flash(cancel_refusal(None), "error")
        return go_to(here)
    try:
        cancelled = lifecycle.cancel(found.id, user=current_user._get_current_object())
    except InvalidTransition as refused:
        flash(cancel_refusal(refused.extra.get("payment_status")), "error")
        return go_to(here)
    except PaymentsBusy as busy:
        flash(str(page_for(busy).message), "error")
        return go_to(here)
    # Its hosted checkout is made unpayable now (or by the next `flask payments sync`).
    checkout_session.expire_dead(found.id, current_gateway())
    flash(gettext(PAYMENT_CANCELLED if cancelled.changed else PAYMENT_ALREADY_CANCELLED), "notice")
    return go_to(url_for("checkout.checkout", consultation_id=found.consultation_id))


@bp.get("/payments/<int:payment_id>/continue")
@login_required
def continue_payment(payment_id: int):
    """Go to the payment's one hosted checkout (created now if it has none yet); the payment
    page, with a notice, when it cannot be paid or the provider did not answer.

    While another request is creating that checkout at the provider, the answer is at once
    the "being prepared" page (200), which asks this address again every second by htmx
    (``204`` while still preparing) and moves on by itself; no thread waits for the provider.

    :raise 404: not this patient's payment.
    """
    found = visible_payment(current_user, payment_id)
    here = url_for("checkout.payment", payment_id=found.id)
    if found.user_id != current_user.id or found.status != PaymentStatus.PENDING or is_stale(found):
        return go_to(here)
    try:
        url = hosted_checkout(found.id)
    except CheckoutPreparing:
        return preparing_page(found)
    except PaymentsBusy as busy:
        flash(str(page_for(busy).message), "error")
        return go_to(here)
    return go_to(url or here)


def _continue_url(found: Payment) -> str:
    """Where "Continue to payment" goes: the stored session, else the route that makes it."""
    gateway = current_gateway()
    if not gateway.stores_checkouts:
        return gateway.checkout_url(found.id)
    return found.checkout_url or url_for("checkout.continue_payment", payment_id=found.id)


def _payment_context(found: Payment) -> dict:
    stale = is_stale(found)
    is_owner = found.user_id == current_user.id
    current = None if found.is_active and not stale else open_payment(found.consultation)
    return {
        "payment": found,
        "checkout_url": _continue_url(found),
        "is_owner": is_owner,
        "stale": stale,
        "can_continue": is_owner and found.status == PaymentStatus.PENDING and not stale,
        # Open: the provider may still answer. Its answer appears without a reload.
        "polling": found.status in lifecycle.CONFIRMABLE and not stale,
        # Pay again only where a new payment could be taken: not after a refund, and not
        # while another payment of the consultation is under way (the page links to it).
        "current_payment": current,
        "can_pay_again": current is None and refunded_payment(found.consultation) is None,
        "refund": found.status == PaymentStatus.REFUNDED,
        # The consultation's other payments' charges owed back (this one's are ``extra``).
        "other_charges": [
            charge
            for charge in charges_to_refund([found.consultation_id]).get(found.consultation_id, [])
            if charge.payment.id != found.id
        ],
        "paid_after_cancel": found.status == PaymentStatus.COMPLETED
        and any(e.event_type == PaymentEventType.CANCELLED for e in found.events),
        "cancel_form": CancelForm(),
    }
