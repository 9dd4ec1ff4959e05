"""The checkout form: CSRF token, the signed idempotency token, and the payment method."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField
from wtforms.fields import SelectChoice
from wtforms.validators import AnyOf, InputRequired

from app.models import PaymentMethod

METHOD_CHOICES = [SelectChoice(m.value, m.label) for m in PaymentMethod]


class CheckoutForm(FlaskForm):
    # validate_choice=False: AnyOf below says the same thing in words a patient reads.
    payment_method = RadioField(
        "Payment method",
        choices=METHOD_CHOICES,
        validate_choice=False,
        validators=[
            InputRequired(message="Choose how you want to pay."),
            AnyOf([c.value for c in METHOD_CHOICES], message="Choose one of the listed methods."),
        ],
    )
    checkout_token = HiddenField()


class CancelForm(FlaskForm):
    """Cancel a pending payment: nothing but the CSRF token."""
