"""Shared steps for the checkout page tests (Flask test client on PostgreSQL and Redis)."""

from __future__ import annotations

from datetime import timedelta

from flask_login import FlaskLoginClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Payment, PaymentStatus, utcnow
from tests.support.html import hidden_inputs

HTMX = {"HX-Request": "true"}


def logged_in(app, user):
    """A test client with ``user`` signed in (the session cookie Flask-Login reads)."""
    app.test_client_class = FlaskLoginClient
    return app.test_client(user=user)


def checkout_url(consultation) -> str:
    return f"/consultations/{consultation.id}/checkout"


def open_form(client, consultation) -> dict[str, str]:
    """Render the checkout page and return its form's hidden fields."""
    page = client.get(checkout_url(consultation))
    assert page.status_code == 200, page.status_code
    fields = hidden_inputs(page.get_data(as_text=True))
    assert "checkout_token" in fields, "the page shows no Pay form"
    return fields


def submit(client, consultation, fields, *, method="stripe", headers=None):
    data = {**fields}
    if method is not None:
        data["payment_method"] = method
    return client.post(checkout_url(consultation), data=data, headers=headers or {})


def pay(client, consultation, *, method="stripe") -> int:
    """Pay through the form; the id of the payment the browser is sent to."""
    response = submit(client, consultation, open_form(client, consultation), method=method)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def payments_for(app, consultation) -> list[Payment]:
    with app.app_context():
        rows = db.session.execute(
            select(Payment).where(Payment.consultation_id == consultation.id)
        ).scalars().all()
        db.session.expunge_all()
        return rows


def payment_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Payment))


def set_payment(app, payment_id: int, **changes) -> None:
    """Move a payment on as the confirmation work will (no such service exists yet)."""
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        for name, value in changes.items():
            setattr(payment, name, value)
        if changes.get("status") == PaymentStatus.COMPLETED:
            payment.completed_at = utcnow()
            payment.transaction_id = f"sandbox_{payment_id}"
            payment.invoice.status = "paid"
            payment.invoice.paid_at = payment.completed_at
        db.session.commit()


def age_payment(app, payment_id: int, seconds: int) -> None:
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        payment.created_at = utcnow() - timedelta(seconds=seconds)
        db.session.commit()
