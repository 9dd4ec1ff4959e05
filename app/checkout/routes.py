"""The patient's pages. Thin: look up, call the payment service, answer (see responses.py)."""

from __future__ import annotations

from flask import Response, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.checkout import bp
from app.checkout.forms import CheckoutForm
from app.checkout.queries import (
    consultations_with_payments,
    open_payment,
    patient_consultation,
    refunded_payment,
    visible_payment,
)
from app.checkout.responses import after_payment, checkout_form, checkout_page
from app.checkout.tokens import current_tokens, idempotency_key
from app.display import refund_of
from app.gateway.provider import current_gateway
from app.invoices.queries import invoice_for_payment
from app.models import PaymentStatus
from app.payments import service
from app.payments.errors import InvalidPaymentRequest
from app.payments.lifecycle import is_stale
from app.payments.ratelimit import payment_limit
from app.payments.requests import parse_payment_request


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
    return render_template("checkout/index.html", rows=consultations_with_payments(current_user))


@bp.get("/consultations/<int:consultation_id>/checkout")
@login_required
def checkout(consultation_id: int):
    """The fee, the VAT line and the Pay form; or the payment, if one is already under way.

    :raise 404: not this patient's consultation.  :raise 403: staff.
    """
    consultation = patient_consultation(current_user, consultation_id)
    payment = open_payment(consultation)
    refunded = None if payment else refunded_payment(consultation)
    form = None if payment or refunded else checkout_form(consultation)
    return checkout_page(consultation, payment=payment, refunded=refunded, form=form)


@bp.post("/consultations/<int:consultation_id>/checkout")
@login_required
@payment_limit(lambda: current_user.id)
def pay(consultation_id: int):
    """Pay with the form's token as the idempotency key; go to the payment page.

    :raise 404 / 403: as for the page.  :raise 400: expired page or form token.
    :raise 409 / 422 / 503: shown inside the form (responses.py).
    """
    consultation = patient_consultation(current_user, consultation_id)
    form = CheckoutForm()
    if not form.validate_on_submit():
        raise InvalidPaymentRequest("The checkout form is not complete.", errors=form.errors)
    nonce = current_tokens().verify(form.checkout_token.data, current_user.id, consultation.id)
    req = parse_payment_request(
        consultation_id=consultation.id,
        payment_method=form.payment_method.data,
        idempotency_key=idempotency_key(nonce, form.payment_method.data),
    )
    return after_payment(service.create_payment(current_user._get_current_object(), req))


@bp.get("/payments/<int:payment_id>")
@login_required
def payment(payment_id: int):
    """Status, amount, method, invoice, times, the next step; a receipt once paid.

    :raise 404: not this patient's payment (staff may open any).
    """
    found = visible_payment(current_user, payment_id)
    stale = is_stale(found)
    return render_template(
        "checkout/payment.html",
        payment=found,
        invoice=invoice_for_payment(found.id),
        checkout_url=current_gateway().checkout_url(found.id),
        is_owner=found.user_id == current_user.id,
        stale=stale,
        can_continue=found.status == PaymentStatus.PENDING and not stale,
        # Pay again only where a new payment could be taken: not after a refund.
        can_pay_again=refunded_payment(found.consultation) is None,
        refund=refund_of(found),
    )


@bp.get("/healthz")
def healthz():
    """A trivial endpoint: liveness, and the benchmark's ceiling."""
    return {"status": "ok"}
