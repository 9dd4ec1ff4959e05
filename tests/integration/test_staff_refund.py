"""Staff refund a completed payment from its invoice page (the same service as the API)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Invoice
from tests.support.factory import PASSWORD
from tests.support.invariants import check_invariants
from tests.support.lifecycle import confirm, create_payment, state


def invoice_number(app, payment_id: int) -> str:
    with app.app_context():
        number = db.session.scalar(
            select(Invoice.invoice_number).where(Invoice.payment_id == payment_id)
        )
        db.session.rollback()
        return number


def login(app, user):
    client = app.test_client()
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    )
    return client


@pytest.fixture
def paid(app, client, factory):
    """A completed payment, its invoice number, and a logged-in staff client."""
    patient, staff = factory.patient(), factory.staff()
    consultation = factory.consultation(patient)
    payment_id = create_payment(client, patient, consultation.id)
    assert confirm(client, staff, payment_id, transaction_id="txn_refund_1").status_code == 200
    number = invoice_number(app, payment_id)
    return payment_id, number, login(app, staff), patient


def test_staff_refund_a_completed_payment_with_a_reason(app, paid):
    # given
    payment_id, number, staff_client, _ = paid
    page = staff_client.get(f"/staff/invoices/{number}")
    assert f'action="/staff/invoices/{number}/refund/confirm"' in page.text
    # when
    response = staff_client.post(
        f"/staff/invoices/{number}/refund", data={"reason": "Doctor unavailable"}
    )
    # then
    assert response.status_code == 303
    after = state(app, payment_id)
    assert after["status"] == "refunded"
    assert after["invoice"] == "refunded"
    assert after["tax"] == "reversed"
    page = staff_client.get(f"/staff/invoices/{number}")
    assert "Payment refunded." in page.text
    assert "Doctor unavailable" in page.text
    check_invariants(app)


def test_refunding_again_changes_nothing(app, paid):
    payment_id, number, staff_client, _ = paid
    staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": "once"})
    before = state(app, payment_id)
    again = staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": "twice"})
    assert again.status_code in (303, 409)
    assert state(app, payment_id) == before


def test_a_refund_without_a_reason_is_refused_in_the_page_and_changes_nothing(app, paid):
    payment_id, number, staff_client, _ = paid
    before = state(app, payment_id)
    response = staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": " "})
    assert response.status_code == 422
    assert "Refund" in response.text
    assert state(app, payment_id) == before


def test_patients_cannot_refund(app, paid):
    payment_id, number, _, patient = paid
    before = state(app, payment_id)
    response = login(app, patient).post(
        f"/staff/invoices/{number}/refund", data={"reason": "please"}
    )
    assert response.status_code == 403
    assert state(app, payment_id) == before


def test_a_pending_payment_shows_no_refund_form_and_cannot_be_refunded(app, client, factory):
    patient, staff = factory.patient(), factory.staff()
    payment_id = create_payment(client, patient, factory.consultation(patient).id)
    number = invoice_number(app, payment_id)
    staff_client = login(app, staff)
    assert "Refund payment" not in staff_client.get(f"/staff/invoices/{number}").text
    response = staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": "x"})
    assert response.status_code == 409
    assert state(app, payment_id)["status"] == "pending"
