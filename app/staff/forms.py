from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp

_REQUIRED = DataRequired(message=lazy_gettext("This field is required."))
_PRINTABLE = Regexp(r"^[^\x00-\x1f\x7f]*$", message=lazy_gettext("Use printable characters only."))


class StaffAccountForm(FlaskForm):
    """A manager's new cashier or manager."""

    name = StringField(lazy_gettext("Name"), validators=[_REQUIRED, Length(max=120), _PRINTABLE])
    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            _REQUIRED,
            Length(max=254),
            _PRINTABLE,
            Regexp(r"^[^@\s]+@[^@\s]+$", message=lazy_gettext("Enter a valid email address.")),
        ],
    )
    role = SelectField(
        lazy_gettext("Role"),
        choices=[
            SelectChoice("cashier", lazy_gettext("Cashier")),
            SelectChoice("manager", lazy_gettext("Manager")),
        ],
    )
    password = PasswordField(
        lazy_gettext("First password"),
        validators=[
            _REQUIRED,
            Length(min=12, max=200, message=lazy_gettext("Use 12 to 200 characters.")),
        ],
    )
    submit = SubmitField(lazy_gettext("Create account"))


class DisableForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Disable"))


class ResetTwoFactorForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Reset two-factor sign-in"))
