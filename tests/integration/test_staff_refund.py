"""Staff refund a completed payment from its invoice page (the same service as the API)."""

from __future__ import annotations

import pytest

from tests.support.auth import AuthActions
from tests.support.invariants import check_invariants
from tests.support.invoices import invoice_number_of
from tests.support.lifecycle import state


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
    assert "Refund recorded: a credit memo was issued." in page.text
    assert "Doctor unavailable" in page.text
    check_invariants(app)


def test_refunding_again_changes_nothing(app, paid):
    payment_id, number, staff_client, _ = paid
    staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": "once"})
    before = state(app, payment_id)
    again = staff_client.post(
        f"/staff/invoices/{number}/refund", data={"reason": "twice"}, follow_redirects=True
    )
    assert again.status_code in (200, 409)
    assert state(app, payment_id) == before


def test_a_refund_without_a_reason_is_refused_in_the_page_and_changes_nothing(app, paid):
    payment_id, number, staff_client, _ = paid
    before = state(app, payment_id)
    response = staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": " "})
    assert response.status_code == 303  # post/redirect/get: a reload never posts again
    response = staff_client.get(response.headers["Location"])
    assert response.status_code == 422
    assert "Refund" in response.text
    assert state(app, payment_id) == before


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("Ill\nand more", "Remove the control character U+000A"),
        ("Ill\tagain", "Remove the control character U+0009"),
        ("Ill\u0085", "Remove the control character U+0085"),
        ("Ill\x00", "Remove the control character U+0000"),
    ],
)
@pytest.mark.parametrize("step", ["refund/confirm", "refund"])
def test_a_reason_the_service_would_refuse_is_refused_at_every_step(app, paid, reason, words, step):
    # given a paid invoice
    payment_id, number, staff_client, _ = paid
    before = state(app, payment_id)
    # when staff send a reason with a character no refund may carry
    response = staff_client.post(
        f"/staff/invoices/{number}/{step}", data={"reason": reason}, follow_redirects=True
    )
    # then the page says which character, before any confirmation, and nothing changed
    assert response.status_code == 422
    assert words in response.text
    assert "Refund this payment?" not in response.text
    assert state(app, payment_id) == before


def test_the_refused_character_is_named_in_the_staff_member_s_language(app, paid):
    payment_id, number, staff_client, _ = paid
    response = staff_client.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"reason": "Ill\nagain"},
        headers={"Accept-Language": "fil"},
        follow_redirects=True,
    )
    assert response.status_code == 422
    assert "Alisin ang control character na U+000A" in response.text


def test_patients_cannot_refund(app, paid):
    payment_id, number, _, patient = paid
    before = state(app, payment_id)
    response = (
        AuthActions(app)
        .client_for(patient)
        .post(f"/staff/invoices/{number}/refund", data={"reason": "please"})
    )
    assert response.status_code == 403
    assert state(app, payment_id) == before


def test_a_pending_payment_shows_no_refund_form_and_cannot_be_refunded(app, api, factory):
    patient, staff = factory.patient(), factory.staff()
    payment_id = api.new_payment(patient, factory.consultation(patient).id)
    number = invoice_number_of(app, payment_id)
    staff_client = AuthActions(app).client_for(staff)
    assert "Refund payment" not in staff_client.get(f"/staff/invoices/{number}").text
    response = staff_client.post(
        f"/staff/invoices/{number}/refund", data={"reason": "x"}, follow_redirects=True
    )
    assert response.status_code == 409
    assert state(app, payment_id)["status"] == "pending"
