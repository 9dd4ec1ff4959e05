from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

# PostgreSQL text cannot hold NUL, and no address contains control characters: refuse them
# here, as a form error, before they reach a query.
_NO_CONTROL_CHARACTERS = Regexp(r"^[^\x00-\x1f\x7f]*$", message="Enter a valid email address.")


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=254), _NO_CONTROL_CHARACTERS]
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Log in")
