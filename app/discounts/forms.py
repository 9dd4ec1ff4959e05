"""The staff forms for senior citizen and PWD cards (checked again by the service)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length

from app.discounts.cards import MAX_HOLDER_NAME

_REQUIRED = DataRequired(message=lazy_gettext("This field is required."))


class CardForm(FlaskForm):
    email = EmailField(lazy_gettext("Patient's email"), validators=[_REQUIRED, Length(max=254)])
    kind = SelectField(
        lazy_gettext("Card"),
        choices=[
            SelectChoice("senior_citizen", lazy_gettext("Senior citizen (OSCA ID)")),
            SelectChoice("pwd", lazy_gettext("Person with disability (PWD ID)")),
        ],
        validators=[_REQUIRED],
    )
    id_number = StringField(lazy_gettext("ID number"), validators=[_REQUIRED, Length(max=32)])
    holder_name = StringField(
        lazy_gettext("Name on the card"), validators=[_REQUIRED, Length(max=MAX_HOLDER_NAME)]
    )


class ClearCardForm(FlaskForm):
    email = HiddenField(validators=[_REQUIRED])
