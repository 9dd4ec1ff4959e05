"""The patient's pages. Thin: parse, call the payment service, render."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from app.checkout import bp
from app.extensions import db
from app.models import Consultation


@bp.get("/")
@login_required
def index():
    """My consultations, with each one's payment state."""
    consultations = []
    if not current_user.is_staff:
        consultations = (
            db.session.execute(
                select(Consultation)
                .where(Consultation.patient_id == current_user.id)
                .order_by(Consultation.scheduled_at)
            )
            .scalars()
            .all()
        )
    return render_template("checkout/index.html", consultations=consultations)


@bp.get("/healthz")
def healthz():
    """A trivial endpoint: liveness, and the benchmark's ceiling."""
    return {"status": "ok"}
