from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import SubmitField

from app.gateway.sandbox import Decision


class SandboxDecisionForm(FlaskForm):
    """The sandbox provider's buttons; one form, so one CSRF token covers all three."""

    approve = SubmitField(lazy_gettext("Approve"))
    decline = SubmitField(lazy_gettext("Decline"))
    approve_twice = SubmitField(lazy_gettext("Approve twice"))

    def decision(self) -> Decision | None:
        """The button that was pressed, if any."""
        for decision in Decision:
            if getattr(self, decision.value).data:
                return decision
        return None
