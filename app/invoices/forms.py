from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.payments.requests import MAX_REASON_LENGTH


class RefundForm(FlaskForm):
    reason = StringField(
        "Reason for the refund", validators=[DataRequired(), Length(max=MAX_REASON_LENGTH)]
    )
    submit = SubmitField("Refund payment")


class DeleteForm(FlaskForm):
    reason = StringField(
        "Reason for deleting it", validators=[DataRequired(), Length(max=MAX_REASON_LENGTH)]
    )
