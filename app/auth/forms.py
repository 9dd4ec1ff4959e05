from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

# PostgreSQL text cannot hold NUL, and no address contains control characters: refuse them
# here, as a form error, before they reach a query.
_NO_CONTROL_CHARACTERS = Regexp(
    r"^[^\x00-\x1f\x7f]*$", message=lazy_gettext("Enter a valid email address.")
)
_REQUIRED = DataRequired(message=lazy_gettext("This field is required."))


class LoginForm(FlaskForm):
    # Sent before there is a session to bind a CSRF token to: the login view refuses
    # cross-site posts by their Fetch Metadata instead (app.security.same_origin_only).
    class Meta:
        csrf = False

    email = EmailField(
        lazy_gettext("Email"),
        validators=[
            _REQUIRED,
            Length(max=254, message=lazy_gettext("Enter at most %(max)d characters.")),
            _NO_CONTROL_CHARACTERS,
        ],
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[
            _REQUIRED,
            Length(max=200, message=lazy_gettext("Enter at most %(max)d characters.")),
        ],
    )
    submit = SubmitField(lazy_gettext("Log in"))


class CodeForm(FlaskForm):
    """A second-factor code: six digits from the authenticator app, or a recovery code."""

    code = StringField(
        lazy_gettext("Code"),
        validators=[
            _REQUIRED,
            Length(max=40, message=lazy_gettext("Enter at most %(max)d characters.")),
        ],
    )
    submit = SubmitField(lazy_gettext("Continue"))
