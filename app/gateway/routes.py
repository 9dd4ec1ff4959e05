"""The provider's webhook (JSON) and the sandbox provider's pages (HTML). Nothing here commits."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request
from flask_babel import gettext
from flask_login import current_user, login_required

from app import metrics
from app.api.problems import from_error, json_response
from app.extensions import csrf, db
from app.gateway import bp, webhooks
from app.gateway.forms import SandboxDecisionForm
from app.gateway.paymongo import PayMongoGateway
from app.gateway.provider import current_gateway
from app.gateway.sandbox import Decision, simulate
from app.gateway.xendit import XenditGateway
from app.i18n import N_, translated
from app.models import Payment, PaymentStatus
from app.pages import page_for
from app.payments import access
from app.payments.errors import PaymentError, PaymentNotFound
from app.payments.events import PaymentEventType as Event
from app.payments.provider import PaymentGateway

OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


@bp.post("/webhooks/gateway")
@csrf.exempt  # the provider has no session; its signature is the proof
def webhook():
    """Receive a provider notification: verify its signature, apply it once.

    :raise 401: missing, wrong or expired signature.  :raise 400: malformed event.
    :raise 404: unknown payment.  :raise 503: the payment stayed locked too long.
    """
    return _received(current_gateway())


def _received(gateway: PaymentGateway):
    try:
        receipt = webhooks.receive(request.get_data(cache=False), request.headers, gateway=gateway)
    except PaymentError as error:
        metrics.webhook_outcome(error)
        return from_error(error)
    metrics.webhook_outcome(receipt.outcome)
    return json_response(receipt.body(), 200)


@bp.post("/webhooks/paymongo")
@csrf.exempt  # PayMongo has no session; its Paymongo-Signature is the proof
def paymongo_webhook():
    """Receive a PayMongo event (when ``PAYMENT_PROVIDER=paymongo``): verify it as PayMongo
    signs it, then apply it once, through the same path and dedupe as every provider.

    :raise 404: PayMongo is not the configured provider.  :raise 401: missing, wrong or
        stale signature.  :raise 400: malformed event.  :raise 503: the payment stayed locked.
    """
    gateway = current_gateway()
    if gateway.name != PayMongoGateway.name:
        abort(404)
    return _received(gateway)


@bp.post("/webhooks/xendit")
@csrf.exempt  # Xendit has no session; its x-callback-token is the proof
def xendit_webhook():
    """Receive a Xendit webhook (when ``PAYMENT_PROVIDER=xendit``): check its
    ``x-callback-token``, then apply it once, through the same path and dedupe as every provider.

    :raise 404: Xendit is not the configured provider.  :raise 401: missing or wrong token.
    :raise 400: malformed body.  :raise 503: the payment stayed locked.
    """
    gateway = current_gateway()
    if gateway.name != XenditGateway.name:
        abort(404)
    return _received(gateway)


@bp.get("/gateway/sandbox/<int:payment_id>")
@login_required
def sandbox_page(payment_id: int):
    """The sandbox provider's checkout page for one payment (its owner or staff)."""
    payment = _sandbox_payment(payment_id)
    return render_template(
        "gateway/sandbox.html",
        payment=payment,
        form=SandboxDecisionForm(),
        open=payment.status in OPEN_STATUSES,
        return_url=_return_url(payment_id),
    )


@bp.post("/gateway/sandbox/<int:payment_id>")
@login_required
def sandbox_decide(payment_id: int):
    """Approve, decline or approve twice, then send the patient back to the clinic."""
    payment = _sandbox_payment(payment_id)
    form = SandboxDecisionForm()
    decision = form.decision() if form.validate_on_submit() else None
    if decision is None:
        abort(400)
    try:
        receipts = simulate(payment, decision)
    except PaymentError as error:
        abort(page_for(error).status)
    message = _message(decision, receipts)
    if message is not None:
        flash(*message)
    return redirect(_return_url(payment_id), 303)  # Post/Redirect/Get


def _sandbox_payment(payment_id: int) -> Payment:
    """The payment, if the sandbox is on and the user may see it; 404 otherwise."""
    if not current_app.config["GATEWAY_SANDBOX"]:
        abort(404)
    try:
        return access.visible_payment(db.session, current_user, payment_id)
    except PaymentNotFound:
        abort(404)


def _return_url(payment_id: int) -> str:
    # The patient's payment page (app.checkout); a plain path keeps the two packages apart.
    return f"/payments/{payment_id}"


def _message(decision: Decision, receipts: list[webhooks.Receipt]) -> tuple[str, str] | None:
    """The flash after a decision, in the patient's language (flashes are stored as text);
    None when the payment page says it all (paid: "Payment successful"; declined: "nothing
    was charged"), so the patient does not read the outcome twice."""
    first = receipts[0]
    twice = decision is Decision.APPROVE_TWICE and receipts[-1].outcome == "already_processed"
    # duplicate_charge: the payment page shows the charge to be refunded.
    if first.outcome in (Event.CONFIRMED, Event.FAILED, Event.DUPLICATE_CHARGE) and not twice:
        return None
    texts = {
        Event.CONFIRMED: (N_("The payment provider approved your payment."), "info"),
        Event.FAILED: (
            N_("The payment provider declined your payment. Nothing was charged."),
            "error",
        ),
        "unchanged": (N_("The payment provider had already reported this payment."), "info"),
    }
    text, category = texts.get(first.outcome, (first.detail or N_("Nothing changed."), "error"))
    text = translated(text)
    if twice:
        text += " " + gettext(
            "It sent the same notification twice; the second was recognised and ignored."
        )
    return text, category
