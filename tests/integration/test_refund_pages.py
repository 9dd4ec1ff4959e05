"""What staff and the patient read about a refund on its way to the payment provider."""

from __future__ import annotations

import re

import pytest

from tests.support.auth import AuthActions
from tests.support.outbox import refund_now


@pytest.fixture
def refunded(app, paid):
    """A refunded payment; its id, invoice number, and logged-in staff and patient clients."""
    payment_id, number, staff_client, patient = paid
    refund_now(app, payment_id, "Doctor unavailable")
    return payment_id, number, staff_client, AuthActions(app).client_for(patient)


def pages(refunded) -> tuple[str, str, str]:
    payment_id, number, staff, patient = refunded
    invoice = staff.get(f"/staff/invoices/{number}")
    attention = staff.get("/staff/attention")
    mine = patient.get(f"/payments/{payment_id}")
    assert invoice.status_code == attention.status_code == mine.status_code == 200
    return invoice.text, attention.text, mine.text


def send(app, fault: str = "") -> None:
    app.config["SANDBOX_REFUND_FAULT"] = fault
    result = app.test_cli_runner().invoke(args=["payments", "send-outbox"])
    assert result.exit_code == 0, result.output


def test_a_requested_refund_says_so_to_staff_and_patient(refunded):
    invoice, attention, mine = pages(refunded)
    assert 'data-refund-state="pending"' in invoice
    assert "Requested." in invoice and "Doctor unavailable" in invoice
    # the sheet names the credit memo and says the money is on its way, not "not returned"
    assert "Credit memo CM-000001" in invoice and "on its way back to the patient" in invoice
    assert refunded[1] in attention and "Queued" in attention
    assert "The money is on its way back to your Credit or debit card" in mine
    assert mine.count("refunded this payment on") == 1
    assert "nothing was charged" not in mine


def test_a_returned_refund_says_when(app, refunded):
    send(app)
    invoice, attention, mine = pages(refunded)
    assert "Returned to the patient." in invoice
    assert "returned by the payment provider on" in invoice
    assert "Every refund has been returned by the payment provider." in attention
    assert "The payment provider returned this payment to your Credit or debit card on" in mine
    assert "on its way back" not in mine and "refunded this payment on" not in mine
    assert re.search(r"Refunded</th><td[^>]*>−₱[\d,.]+<", mine)


def test_a_refund_being_retried_shows_its_tries_to_staff(app, refunded):
    send(app, "timeout_after")
    invoice, attention, _ = pages(refunded)
    assert "Still being sent." in invoice and "did not answer in time" in invoice
    assert "Being sent: 1 try, next" in attention


def test_a_refused_refund_is_on_the_attention_page(app, refunded):
    send(app, "refuse")
    invoice, attention, mine = pages(refunded)
    assert "The payment provider refused this refund" in invoice
    assert "Payment provider refused the refund" in invoice  # the history entry
    assert "<strong>Refused</strong>" in attention and refunded[1] in attention
    assert "is on its way back" in mine  # the clinic finishes it; the patient is not alarmed
