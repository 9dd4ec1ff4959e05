"""Why the payment lifecycle refused a staff action, in the staff member's language.

The service's own words (app/payments/lifecycle.py) are English and name the status; the
same sentences here are msgids, with the status as a word of the reader's language.
"""

from __future__ import annotations

from flask_babel import gettext

from app.formatting import format_money, status_word
from app.i18n import translated
from app.models import PaymentStatus
from app.payments import lifecycle
from app.payments.decisions import UNCHARGED_ENDS
from app.payments.errors import InvalidTransition, PaymentError, PaymentNotDeletable, StaleVersion


def refusal(error: PaymentError) -> str:
    """Why the lifecycle refused ``error``: one sentence in the reader's language."""
    if isinstance(error, lifecycle.RefundExceedsRemaining):
        left = format_money(error.extra["refundable"])
        return gettext("At most %(amount)s is left to refund.", amount=left)
    if isinstance(error, StaleVersion):
        return gettext(
            "This payment changed since the page was shown (another refund?). "
            "Nothing was refunded: look at it again."
        )
    status, payment_id = error.extra.get("payment_status"), error.extra.get("payment_id")
    if status is None or payment_id is None:
        return translated(error.detail)
    if isinstance(error, PaymentNotDeletable):
        return not_deletable(payment_id, str(status))
    if isinstance(error, InvalidTransition):
        return gettext(
            "Payment %(id)s is %(status)s and cannot be refunded.",
            id=payment_id,
            status=status_word(str(status)),
        )
    return translated(error.detail)


def not_deletable(payment_id: int, status: str) -> str:
    """Why a payment in ``status`` cannot be deleted, in the staff member's language. A failed,
    expired or cancelled payment is refused only when the provider took money for it anyway
    (``lifecycle.deletable``)."""
    if status in UNCHARGED_ENDS:
        return gettext(
            "The payment provider took money for payment %(id)s after it was %(status)s: "
            "refund that charge instead of deleting the payment.",
            id=payment_id,
            status=status_word(status),
        )
    text = gettext(
        "Payment %(id)s is %(status)s: only a payment that moved no money "
        "(failed, expired or cancelled) can be deleted.",
        id=payment_id,
        status=status_word(status),
    )
    if status == PaymentStatus.COMPLETED:
        text += " " + gettext("Refund it instead.")
    return text
