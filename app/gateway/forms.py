from flask_wtf import FlaskForm
from wtforms import SubmitField

from app.gateway.sandbox import Decision


class SandboxDecisionForm(FlaskForm):
    """The sandbox provider's buttons; one form, so one CSRF token covers all three."""

    approve = SubmitField("Approve")
    decline = SubmitField("Decline")
    approve_twice = SubmitField("Approve twice")

    def decision(self) -> Decision | None:
        """The button that was pressed, if any."""
        for decision in Decision:
            if getattr(self, decision.value).data:
                return decision
        return None
