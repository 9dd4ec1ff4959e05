"""How the HTML pages answer a domain error: the one table of statuses and words.

The patient's checkout, the sandbox provider's page and the staff invoice pages
all read their status codes (and the patient's words) from ``PAGES``.
"""

from __future__ import annotations

from typing import NamedTuple

from flask_babel import gettext, lazy_gettext

from app.i18n import N_
from app.payments import errors
from app.payments.errors import PaymentError, most_specific

FORM_INVALID = lazy_gettext(
    "This form can no longer be used. Reload the page, then press Pay again."
)


class Page(NamedTuple):
    status: int
    #: What a patient reads, in plain words, in the request's language (a lazy string: it
    #: becomes text when the page renders); nothing was written.
    message: str
    #: The page is stale: offer a reload rather than "try again".
    offer_reload: bool = False


PAGES: dict[type[PaymentError], Page] = {
    PaymentError: Page(
        400,
        lazy_gettext("We could not take this payment. Reload the page and try again."),
        offer_reload=True,
    ),
    errors.InvalidPaymentRequest: Page(422, lazy_gettext("Please check the form below.")),
    errors.KeyReuseMismatch: Page(422, FORM_INVALID, offer_reload=True),
    errors.PaymentInProgress: Page(
        409,
        lazy_gettext("Your payment is still being processed. Wait a moment, then press Pay again."),
    ),
    errors.PaymentsBusy: Page(
        503,
        lazy_gettext(
            "We are busy right now and nothing was charged. Please try again in a moment."
        ),
    ),
    errors.ConsultationNotFound: Page(404, lazy_gettext("We could not find that consultation.")),
    errors.PaymentNotFound: Page(404, lazy_gettext("We could not find that payment.")),
    errors.NotYourConsultation: Page(
        403, lazy_gettext("Staff cannot pay for a patient's consultation.")
    ),
    errors.Forbidden: Page(403, lazy_gettext("You are not allowed to do that.")),
    errors.ConsultationRefunded: Page(
        409, lazy_gettext("This consultation was refunded, so it cannot be paid again here.")
    ),
    errors.InvalidTransition: Page(409, lazy_gettext("This payment cannot change that way.")),
    errors.PaymentNotDeletable: Page(
        409,
        lazy_gettext(
            "Only a payment that moved no money (failed, expired or cancelled) can be deleted."
        ),
    ),
    errors.StaleVersion: Page(
        409, lazy_gettext("This payment changed since you opened it. Reload the page.")
    ),
    errors.DuplicateCharge: Page(409, lazy_gettext("The provider charged this payment twice.")),
    errors.AmountMismatch: Page(409, lazy_gettext("The provider reported a different amount.")),
    errors.TransactionIdInUse: Page(
        409, lazy_gettext("That transaction already paid another payment.")
    ),
    errors.WebhookRejected: Page(400, lazy_gettext("The notification was rejected.")),
    errors.BadSignature: Page(401, lazy_gettext("The notification's signature is not valid.")),
}

#: Errors that mean "nothing here for you": a page of their own, not a message in a form.
NOT_YOURS = (
    errors.ConsultationNotFound,
    errors.PaymentNotFound,
    errors.NotYourConsultation,
    errors.Forbidden,
)


def page_for(error: PaymentError) -> Page:
    return most_specific(PAGES, error)


# --- the patient's cancel (app/checkout/routes.py) ---------------------------------------

# English msgids (flashed, so translated as they are flashed: a session stores text).
PAYMENT_CANCELLED = N_(
    "Your payment was cancelled and nothing was charged. "
    "Choose how you want to pay, or come back later."
)
CANCEL_PAGE_EXPIRED = N_("This page has expired. Reload the page, then cancel again.")
#: Why a cancel changed nothing, by the status the payment had reached (``payment_status``).
CANCEL_REFUSED = {
    "completed": N_(
        "This payment was already paid, so it cannot be cancelled. Your receipt is below."
    ),
    "refunded": N_("This payment was paid and then refunded, so there is nothing to cancel."),
    "processing": N_(
        "The payment provider is confirming this payment right now, so it can no longer be "
        "cancelled. This page shows the provider's answer as soon as it arrives."
    ),
    "failed": N_(
        "The payment provider declined this payment: nothing was charged, nothing to cancel."
    ),
    "expired": N_(
        "This payment was not completed in time: nothing was charged, nothing to cancel."
    ),
}


def cancel_refusal(payment_status: str | None) -> str:
    """What the patient reads when a cancel changed nothing, in the request's language;
    ``None``: the page expired."""
    if payment_status is None:
        return gettext(CANCEL_PAGE_EXPIRED)
    if str(payment_status) in CANCEL_REFUSED:
        return gettext(CANCEL_REFUSED[str(payment_status)])
    return str(PAGES[errors.InvalidTransition].message)
