"""How the HTML pages answer a domain error: its problem's status and words.

The patient's checkout, the sandbox provider's page and the staff invoice pages read
them through ``page_for``, from the registry the API reads too (``app.problem_types``).
"""

from __future__ import annotations

from typing import NamedTuple

from flask_babel import gettext, lazy_gettext

from app.i18n import N_
from app.payments import errors
from app.payments.errors import PaymentError, most_specific
from app.problem_types import ERRORS, PROBLEM_TYPES
from app.problem_types import FORM_INVALID as _FORM_INVALID

FORM_INVALID = lazy_gettext(_FORM_INVALID)


class Page(NamedTuple):
    status: int
    #: What a patient reads, in plain words, in the request's language (a lazy string: it
    #: becomes text when the page renders); nothing was written.
    message: str
    #: The page is stale: offer a reload rather than "try again".
    offer_reload: bool = False


#: Errors that mean "nothing here for you": a page of their own, not a message in a form.
NOT_YOURS = (
    errors.ConsultationNotFound,
    errors.PaymentNotFound,
    errors.NotYourConsultation,
    errors.Forbidden,
)


def page_for(error: PaymentError) -> Page:
    """The error's status and words on an HTML page (``ERRORS``, then ``PROBLEM_TYPES``)."""
    kind = PROBLEM_TYPES[most_specific(ERRORS, error)]
    return Page(kind.status, lazy_gettext(kind.page_message), kind.offer_reload)


# --- the patient's cancel (app/checkout/routes.py) ---------------------------------------

# English msgids (flashed, so translated as they are flashed: a session stores text).
PAYMENT_CANCELLED = N_(
    "Your payment was cancelled and nothing was charged. "
    "Choose how you want to pay, or come back later."
)
#: A cancel pressed on a page older than the cancel itself (another tab cancelled it first).
PAYMENT_ALREADY_CANCELLED = N_(
    "That payment had already been cancelled, and nothing was charged for it. "
    "This page shows where this consultation stands now."
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
    return gettext(PROBLEM_TYPES["invalid-transition"].page_message)
