from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, StringField, SubmitField
from wtforms.fields import Field
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.payments.requests import MAX_REASON_LENGTH, REFUND_AMOUNT_PATTERN, forbidden_character


def _storable_reason(form: Form, field: Field) -> None:
    """The service's own character rule (``forbidden_character``), checked when the form is
    first sent: the confirmation page never shows a reason the refund would then refuse."""
    forbidden = forbidden_character(field.data or "")
    if forbidden is None:
        return
    kind, code = forbidden
    if kind == "control":
        raise ValidationError(
            lazy_gettext(
                "Remove the control character %(code)s: tabs, line breaks and the like are "
                "not allowed.",
                code=code,
            )
        )
    raise ValidationError(
        lazy_gettext("Remove the character %(code)s: it cannot be stored.", code=code)
    )


# Labels and messages in the staff member's language (WTForms has no id or fil catalog).
_REASON = [
    DataRequired(message=lazy_gettext("This field is required.")),
    Length(max=MAX_REASON_LENGTH, message=lazy_gettext("Enter at most %(max)d characters.")),
    _storable_reason,
]


class RefundForm(FlaskForm):
    """A refund of part or all of what is left (app/payments/refunds.py). ``version`` is the
    payment's version the confirmation page showed: posting it twice refunds once."""

    amount = StringField(
        lazy_gettext("Amount to refund, in pesos"),
        filters=[lambda value: value.strip().replace(",", "") if value else value],
        validators=[
            Optional(),
            Regexp(
                f"^(?:{REFUND_AMOUNT_PATTERN})$",
                message=lazy_gettext("Enter an amount more than ₱0.00, such as 500 or 1,120.00."),
            ),
        ],
    )
    reason = StringField(lazy_gettext("Reason for the refund"), validators=_REASON)
    version = HiddenField()
    submit = SubmitField(lazy_gettext("Refund payment"))


class DeleteForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason for deleting it"), validators=_REASON)
