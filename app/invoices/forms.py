from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.payments.requests import MAX_REASON_LENGTH

# Labels and messages in the staff member's language (WTForms has no id or fil catalog).
_REASON = [
    DataRequired(message=lazy_gettext("This field is required.")),
    Length(max=MAX_REASON_LENGTH, message=lazy_gettext("Enter at most %(max)d characters.")),
]


class RefundForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason for the refund"), validators=_REASON)
    submit = SubmitField(lazy_gettext("Refund payment"))


class DeleteForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason for deleting it"), validators=_REASON)
