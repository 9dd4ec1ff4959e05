"""How the checkout answers in HTML: the one place that picks status codes and words.

A Pay submit ends in one of two ways:
- the service decided. A new payment (or a replay of it) still pending sends the
  browser straight to the provider's checkout page, like a hosted checkout; "this
  the payment was already started", or a replay of one that moved on, goes to
  that payment's page. By ``HX-Redirect`` for htmx, ``303 See Other`` for a plain
  form post (Post/Redirect/Get);
- it was refused before anything was written: the checkout form comes back
  with a message in plain words, as the form alone for htmx (which swaps it in
  place, 4xx/5xx included, see base.html) or as the whole page otherwise.

Every fragment the app sends for htmx to swap carries ``X-Checkout-Fragment: 1``
(``app_fragment``): static/js/checkout.js swaps nothing else into the checkout, so a
proxy's "502 Bad Gateway" page never replaces the form (docs/checkout.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import TooManyRequests

from app.checkout import bp
from app.checkout.forms import CheckoutForm
from app.checkout.queries import charges_to_refund, patient_consultation
from app.checkout.tokens import CheckoutTokenError, current_tokens
from app.extensions import db
from app.formatting import format_money, sale_of
from app.gateway.provider import current_gateway
from app.htmx import is_htmx
from app.http_errors import database_unavailable, seconds_until_the_limit_resets
from app.i18n import N_, translated
from app.models import Consultation, DiscountCard, Payment, PaymentMethod, PaymentStatus
from app.pages import FORM_INVALID, NOT_YOURS, page_for
from app.payments import checkout_session, dberrors
from app.payments.errors import (
    CheckoutPreparing,
    ConsultationNotFound,
    ConsultationRefunded,
    InvalidPaymentRequest,
    NotYourConsultation,
    PaymentError,
)
from app.payments.lifecycle import is_stale
from app.payments.pricing import current_sale
from app.payments.service import Outcome
from app.problem_types import HTTP_ERRORS, PROBLEM_TYPES

# Shown in the request's language (lazy: each becomes text as it is rendered or flashed).
ALREADY_PAID_NOTICE = lazy_gettext(
    "You had already started this payment, so no second one was made. Here it is."
)
#: Marks a response body as the app's own fragment (static/js/checkout.js checks it).
FRAGMENT_HEADER = "X-Checkout-Fragment"
PAGE_EXPIRED = lazy_gettext("This page has expired. Reload the page, then press Pay again.")


@dataclass(frozen=True)
class Refusal:
    """What the patient reads when a Pay submit is refused; nothing was written."""

    status: int
    message: str
    offer_reload: bool = False
    retry_after: int | None = None
    #: The price changed since the form was shown: an htmx answer updates the summary too.
    price_changed: bool = False


def _refusal_for(error: Exception) -> Refusal:
    if isinstance(error, PaymentError):
        page = page_for(error)
        return Refusal(page.status, page.message, page.offer_reload, error.retry_after)
    if isinstance(error, TooManyRequests):
        return Refusal(
            429,
            lazy_gettext(
                "Too many payment attempts in a short time. Wait a minute, then press Pay again."
            ),
            retry_after=seconds_until_the_limit_resets(),
        )
    if isinstance(error, CSRFError):
        return Refusal(400, PAGE_EXPIRED, offer_reload=True)
    if isinstance(error, CheckoutTokenError):
        return Refusal(400, PAGE_EXPIRED if error.expired else FORM_INVALID, offer_reload=True)
    return Refusal(
        400,
        lazy_gettext("We could not take this payment. Reload the page and try again."),
        offer_reload=True,
    )


def go_to(url: str) -> Response:
    """Send the browser to ``url``: ``HX-Redirect`` for htmx, ``303 See Other`` otherwise."""
    if is_htmx():
        response = Response("", 200)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, code=303)
    response.vary.add("HX-Request")
    return response


def app_fragment(body: str, status: int = 200) -> Response:
    """An HTML fragment for htmx to swap, marked as the app's own (``FRAGMENT_HEADER``)."""
    response = Response(body, status)
    response.headers[FRAGMENT_HEADER] = "1"
    response.vary.add("HX-Request")
    return response


def after_payment(outcome: Outcome) -> Response:
    """The service decided: pay at the provider, or see the payment already there.

    A created payment (201, first time or replayed) that is still pending goes to
    the provider's checkout page (``hosted_checkout``: its one session), which sends
    the patient back to the payment page. "Already has a payment" (409), or a
    replayed payment that moved on (paid, declined, cancelled), goes to the payment
    page, with a notice for the 409.
    """
    if outcome.status == 409:
        _keep_already_started(outcome.payment_id, request.form.get("payment_method"))
    elif _still_payable(outcome):
        try:
            url = hosted_checkout(outcome.payment_id)
        except CheckoutPreparing:
            # Another press is creating the checkout at the provider: its "being
            # prepared" page, which moves on by itself (``preparing_page``).
            return go_to(url_for("checkout.continue_payment", payment_id=outcome.payment_id))
        if url is not None:
            return go_to(url)
    return go_to(url_for("checkout.payment", payment_id=outcome.payment_id))


def _still_payable(outcome: Outcome) -> bool:
    """Whether the created payment can still be paid at the provider. Created by this very
    request: pending and not stale, nothing to read; a replay: its row says."""
    if not outcome.replayed:
        return True
    payment = db.session.get(Payment, outcome.payment_id)
    return payment.status == PaymentStatus.PENDING and not is_stale(payment)


# The session key of the "you already started a payment" notice: kept (not flashed) so the
# payment page still says it after a reload or a language change, in the new language.
ALREADY_STARTED_KEY = "already_started"


def _keep_already_started(payment_id: int, chosen: str | None) -> None:
    session[ALREADY_STARTED_KEY] = {"payment_id": payment_id, "chosen": chosen}


def forget_notices() -> None:
    """The patient moved on (their consultations, a checkout): the kept notice is done."""
    session.pop(ALREADY_STARTED_KEY, None)


def already_started_notice(payment: Payment) -> str | None:
    """The notice of a submit that found ``payment`` already made, in the request's language,
    while the patient stays on that payment's page (reloads and language changes included);
    None on any other payment's page, which also ends it."""
    kept = session.get(ALREADY_STARTED_KEY)
    if not isinstance(kept, dict) or kept.get("payment_id") != payment.id:
        forget_notices()
        return None
    return _already_started(payment, kept.get("chosen"))


def _already_started(payment: Payment, chosen: str | None) -> str:
    """The notice naming the method the submit chose when it differs (a second tab's choice
    is never dropped silently)."""
    if chosen in {m.value for m in PaymentMethod} and chosen != payment.payment_method:
        return gettext(
            "You had already started a payment by %(method)s, so no second one was made and "
            "%(chosen)s was not used. To pay by %(chosen)s, cancel this payment first.",
            method=payment.method_label,
            chosen=PaymentMethod(chosen).label,
        )
    return str(ALREADY_PAID_NOTICE)


def hosted_checkout(payment_id: int) -> str | None:
    """The payment's one hosted checkout URL at the configured provider (created once, after
    the payment's transaction committed); None when it can no longer be paid.

    :raise CheckoutUnavailable: 503, shown in the form as "try again": nothing was shown.
    """
    return checkout_session.hosted_checkout_url(
        payment_id,
        current_gateway(),
        return_url=url_for("checkout.payment", payment_id=payment_id, _external=True),
    )


def preparing_page(payment: Payment) -> Response:
    """ "Your payment page is being prepared": another request is creating the payment's hosted
    checkout at the provider. The page asks ``continue_payment`` again every second (htmx):
    ``204`` while still preparing, then ``HX-Redirect`` to the checkout (or to the payment
    page, with its notice, if the provider did not answer). Without JavaScript its button
    does the same by hand."""
    if is_htmx():
        return Response(status=204)
    body = render_template("checkout/preparing.html", payment=payment)
    response = Response(body, 200)
    response.vary.add("HX-Request")
    return response


def checkout_form(consultation: Consultation, *, keep_submitted: bool = False) -> CheckoutForm:
    """The form with its idempotency token.

    A refused submit keeps its own token when it still verifies, so pressing
    Pay again on the same page stays the same request to the payment service.
    """
    form = CheckoutForm()
    tokens = current_tokens()
    if keep_submitted:
        try:
            tokens.verify(form.checkout_token.data, current_user.id, consultation.id)
            return form
        except CheckoutTokenError:
            pass
    form.checkout_token.data = tokens.mint(current_user.id, consultation.id)
    return form


def checkout_page(
    consultation: Consultation,
    *,
    payment: Payment | None = None,
    refunded: Payment | None = None,
    form: CheckoutForm | None = None,
    refusal: Refusal | None = None,
) -> Response:
    """The checkout page (or, for htmx, only its form), never stored by any cache.

    ``refunded``: the consultation's refunded payment; the page then offers no Pay form.
    """
    price = _price_for(consultation, payment)
    if form is not None:
        # Always the amount this page shows, a refused submit's stale one included.
        form.amount.data = str(price["vat"].total)
    context = {
        "consultation": consultation,
        "payment": payment,
        "refunded": refunded,
        "form": form,
        "refusal": refusal,
        "charges_to_refund": charges_to_refund([consultation.id]).get(consultation.id, []),
        **price,
    }
    status = refusal.status if refusal else 200
    if refusal and is_htmx():
        fragment = render_template("checkout/_pay_form.html", **context)
        if refusal.price_changed:
            fragment += render_template("checkout/_order_summary.html", oob=True, **context)
        response = app_fragment(fragment, status)
    else:
        response = Response(render_template("checkout/checkout.html", **context), status)
        response.vary.add("HX-Request")
    if refusal and refusal.retry_after:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _price_for(consultation: Consultation, payment: Payment | None = None) -> dict:
    """The amounts the page shows (``vat``) and the discount they include (``discount_card``:
    a ``DiscountCard`` or a payment's ``SaleDiscount``, both with ``holder_name`` and
    ``id_number``).

    With a payment under way, its own amounts: what "Continue to payment" charges, whatever
    the patient's card says now. ``new_price``: the price a new payment would charge when it
    differs from a pending payment's (a card recorded or removed since); the page then offers
    to cancel and start again at that price.
    """
    card = db.session.get(DiscountCard, consultation.patient_id)
    current = current_sale(consultation.fee, card.kind if card else None)
    if payment is None:
        return {"vat": current, "discount_card": card, "new_price": None}
    charged = sale_of(payment)
    changed = payment.status == PaymentStatus.PENDING and current.total != charged.total
    return {
        "vat": charged,
        "discount_card": payment.sale_discount,
        "new_price": current if changed else None,
    }


# Why a Pay submit's amount is no longer the price (msgids; %(amount)s is the new price).
PRICE_CHANGED_DISCOUNT = N_(
    "The amount changed to %(amount)s because the clinic recorded your %(kind)s discount. "
    "Nothing was charged. Press the button to pay %(amount)s."
)
PRICE_CHANGED_NO_DISCOUNT = N_(
    "The amount changed to %(amount)s because your discount is no longer recorded. "
    "Nothing was charged. Press the button to pay %(amount)s."
)


def _price_changed(error: InvalidPaymentRequest, consultation: Consultation) -> Refusal | None:
    """The refusal of a submit whose amount is not the price any more, naming the new one;
    None for other refusals."""
    if "amount" not in error.errors:
        return None
    sale = _price_for(consultation)["vat"]
    amount = format_money(sale.total)
    if sale.discounted:
        text = gettext(PRICE_CHANGED_DISCOUNT, amount=amount, kind=sale.discount_kind.label)
    else:
        text = gettext(PRICE_CHANGED_NO_DISCOUNT, amount=amount)
    return Refusal(409, text, price_changed=True)


def _refused_pay(error: Exception) -> Response:
    try:
        return _refusal_page(error)
    except DBAPIError as lost:
        # The refusal page reads the consultation again: with no writable database the
        # answer is the app-wide 503 (the same safe-retry words), not a 500 from this handler.
        if not dberrors.no_writable_primary(lost):
            raise
        return database_unavailable(lost)


def _refusal_page(error: Exception) -> Response:
    try:
        consultation = patient_consultation(current_user, request.view_args["consultation_id"])
    except (ConsultationNotFound, NotYourConsultation) as lookup_error:
        return _not_found_or_forbidden(lookup_error)
    form = checkout_form(consultation, keep_submitted=True)
    refusal = None
    if isinstance(error, InvalidPaymentRequest):
        form.validate()  # puts each field's own message next to it
        refusal = _price_changed(error, consultation)
    return checkout_page(consultation, form=form, refusal=refusal or _refusal_for(error))


def _not_found_or_forbidden(error: PaymentError) -> Response:
    status, message, _ = page_for(error)
    if is_htmx():
        return app_fragment(render_template("checkout/_notice.html", message=message), status)
    title = PROBLEM_TYPES[HTTP_ERRORS[status]].page_title
    body = render_template("error.html", status=status, title=title, detail=message)
    return Response(body, status)


@bp.errorhandler(PaymentError)
def payment_error(error: PaymentError):
    """Domain errors: 404/403 as a page of their own, the rest inside the checkout form."""
    if type(error) in NOT_YOURS:
        return _not_found_or_forbidden(error)
    if isinstance(error, ConsultationRefunded):
        # Closed for payment: the checkout page says why, with the refund, and no Pay form.
        flash(translated(error.detail), "error")
        return go_to(url_for("checkout.checkout", consultation_id=error.extra["consultation_id"]))
    return _refused_pay(error)


@bp.errorhandler(TooManyRequests)
def too_many(error: TooManyRequests):
    """The per-patient payment limit, inside the form (a double click never reaches it)."""
    if request.endpoint == "checkout.pay":
        return _refused_pay(error)
    return error


@bp.errorhandler(CheckoutTokenError)
def token_error(error: CheckoutTokenError):
    return _refused_pay(error)


@bp.errorhandler(CSRFError)
def csrf_error(error: CSRFError):
    """An expired CSRF token: offer a reload inside the page (the session may be gone too)."""
    if not current_user.is_authenticated:
        return go_to(url_for("auth.login", next=request.path))
    if request.endpoint != "checkout.pay":
        kind = PROBLEM_TYPES["page-expired"]
        body = render_template(
            "error.html", status=kind.status, title=kind.page_title, detail=PAGE_EXPIRED
        )
        return Response(body, kind.status)
    return _refused_pay(error)
