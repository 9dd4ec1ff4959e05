from flask_babel import get_locale, gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, StringField, SubmitField
from wtforms.fields import Field
from wtforms.validators import Optional, ValidationError

from app.payments.requests import BadAmount, Problem, reason_problem, refund_amount


def _said(problem: Problem) -> str:
    return gettext(problem.msgid, **problem.fields)


def _reason(form: Form, field: Field) -> None:
    """The service's own rule (``reason_problem``: length, invisible or reordering
    characters, blank), checked when the form is first sent: the confirmation page never
    shows a reason the change would then refuse, and nothing is cut short unsaid."""
    problem = reason_problem(field.data or "")
    if problem:
        raise ValidationError(_said(problem))


def _amount(form: Form, field: Field) -> None:
    """An amount as the page shows one (``refund_amount(as_shown=True)``), kept as plain
    pesos ("1000.00") for the confirmation page and the service."""
    try:
        shown = refund_amount(field.data, as_shown=True, locale=get_locale() or "en")
        field.data = f"{shown:.2f}"
    except BadAmount as bad:
        raise ValidationError(_said(bad.problem)) from None


class RefundForm(FlaskForm):
    """A refund of part or all of what is left (app/payments/refunds.py). ``version`` is the
    payment's version the confirmation page showed: posting it twice refunds once."""

    amount = StringField(
        lazy_gettext("Amount to refund, in pesos"),
        filters=[lambda value: value.strip() if value else value],
        validators=[Optional(), _amount],
    )
    reason = StringField(lazy_gettext("Reason for the refund"), validators=[_reason])
    version = HiddenField()
    submit = SubmitField(lazy_gettext("Refund payment"))


class DeleteForm(FlaskForm):
    reason = StringField(lazy_gettext("Reason for deleting it"), validators=[_reason])
