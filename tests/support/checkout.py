"""Shared steps for the checkout page tests (Flask test client on PostgreSQL and Redis)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import GatewayEvent, Payment
from tests.support.html import hidden_inputs
from tests.support.storm import storm

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


#: The API's answer names the hosted checkout in its Link header.
PAYMENT_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="payment"$')


def deliver_webhooks(app, fake, path: str) -> None:
    """Send ``fake``'s webhooks to ``path`` on ``app``; its answers pile up in ``fake.receipts``."""
    receipts = []

    def deliver(body: bytes, headers: dict[str, str]):
        response = app.test_client().post(path, data=body, headers=headers)
        receipts.append(response)
        return response

    fake.webhook_sink = deliver
    fake.receipts = receipts


def pay_presses(api, auth_actions, patient, consultation, count: int = 40) -> tuple[list, list]:
    """``count`` concurrent presses of Pay: half the form in two tabs, half the API with one
    shared key or its own. (The tabs, every hosted checkout URL an answer sent the patient to.)"""
    tabs = [auth_actions.session_for(patient) for _ in range(2)]
    forms = [open_form(tab, consultation) for tab in tabs]

    def press(i: int) -> str | None:
        if i % 2:  # the API: one key (a client's retries) or its own key
            response = api.pay(patient, consultation, key="same" if i % 4 == 1 else f"k{i}")
            link = response.headers.get("Link")
            return PAYMENT_LINK.match(link)["url"] if link else None
        tab = i // 2 % 2
        response = submit(tabs[tab], consultation, forms[tab], method="gcash")
        assert response.status_code == 303, response.get_data(as_text=True)
        return response.headers["Location"]

    answers = storm(count, press)
    return tabs, [url for url in answers if url and "/checkout/" in url]
