"""How the HTML pages answer a domain error: the one table of statuses and words.

The patient's checkout, the sandbox provider's page and the staff invoice pages
all read their status codes (and the patient's words) from ``PAGES``.
"""

from __future__ import annotations

from typing import NamedTuple

from flask_babel import lazy_gettext

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
