"""Shared steps for the checkout page tests (Flask test client on PostgreSQL and Redis)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import GatewayEvent, Payment
from tests.support.html import hidden_inputs

HTMX = {"HX-Request": "true"}


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
        rows = (
            db.session.execute(select(Payment).where(Payment.consultation_id == consultation.id))
            .scalars()
            .all()
        )
        db.session.expunge_all()
        return rows


def payment_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Payment))


# --- a provider's hosted checkout (the PayMongo and Xendit fakes serve it at /checkout/<id>) ---


def payment_row(app, payment_id: int) -> Payment:
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        db.session.expunge(payment)
        db.session.rollback()
        return payment


def gateway_events(app) -> list[GatewayEvent]:
    with app.app_context():
        rows = db.session.scalars(select(GatewayEvent).order_by(GatewayEvent.id)).all()
        db.session.expunge_all()
        return rows


def session_id_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def pay_by_form(client, consultation) -> str:
    """Press Pay; the hosted checkout URL the browser is sent to (asserts it is one)."""
    response = submit(client, consultation, open_form(client, consultation), method="gcash")
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def pressed_pay(app, auth_actions, patient, consultation):
    """The patient pressed Pay: (their client, the hosted checkout URL, the pending payment)."""
    client = auth_actions.session_for(patient)
    url = pay_by_form(client, consultation)
    [payment] = payments_for(app, consultation)
    return client, url, payment


def shown_on_payment_page(client, payment_id: int) -> list[str]:
    page = client.get(f"/payments/{payment_id}").get_data(as_text=True)
    return re.findall(r'href="(http://127\.0\.0\.1:\d+/checkout/[^"]+)"', page)
