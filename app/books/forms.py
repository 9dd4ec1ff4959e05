"""The manager's form that closes a day (checked again by ``app.books.closing``)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField
from wtforms.validators import InputRequired


class CloseDayForm(FlaskForm):
    day = DateField(
        lazy_gettext("Day"),
        validators=[InputRequired(message=lazy_gettext("Pick the day to close."))],
    )
    pending_confirmed = BooleanField(
        lazy_gettext("Close it anyway: payments still pending will count on the day they are paid.")
    )
