"""The checkout form: CSRF token, the signed idempotency token, the amount shown, and the
payment method."""

from __future__ import annotations

from flask_babel import LazyString, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField
from wtforms.fields import SelectChoice
from wtforms.validators import AnyOf, InputRequired

from app.models import PaymentMethod

# Each label is read when the form renders, in that request's language.
METHOD_CHOICES = [SelectChoice(m.value, LazyString(lambda m=m: m.label)) for m in PaymentMethod]


class CheckoutForm(FlaskForm):
    # validate_choice=False: AnyOf below says the same thing in words a patient reads.
    payment_method = RadioField(
        lazy_gettext("Payment method"),
        choices=METHOD_CHOICES,
        validate_choice=False,
        validators=[
            InputRequired(message=lazy_gettext("Choose how you want to pay.")),
            AnyOf(
                [c.value for c in METHOD_CHOICES],
                message=lazy_gettext("Choose one of the listed methods."),
            ),
        ],
    )
    checkout_token = HiddenField()
    #: The total the page showed (pesos, "3571.43"): the service refuses the payment when the
    #: price changed since (a discount card recorded or removed), so the provider never
    #: charges an amount the patient did not see. A form without it is priced as is.
    amount = HiddenField()


class CancelForm(FlaskForm):
    """Cancel a pending payment: nothing but the CSRF token."""
