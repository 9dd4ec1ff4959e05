"""A discount card recorded or removed while the patient is paying: the checkout page never
shows an amount other than the one the provider will charge, and a Pay form whose amount is
no longer the price is refused with the new price, making no payment."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import Payment
from tests.support.checkout import (
    HTMX,
    checkout_url,
    open_form,
    pay,
    payment_count,
    payments_for,
    submit,
)
from tests.support.html import hidden_inputs

PWD = ("--kind", "pwd", "--id-number", "PWD-77", "--name", "Lola Remedios")


@pytest.fixture
def patient(factory):
    return factory.patient(name="Lola Remedios")


@pytest.fixture
def consultation(factory, patient):
    """₱1,120.00 with 12% VAT in it; ₱800.00 with a PWD card."""
    return factory.consultation(patient, fee="1120")


def record_card(runner, patient) -> None:
    result = runner.invoke(args=["users", "set-discount", patient.email, *PWD])
    assert result.exit_code == 0, result.output


def clear_card(runner, patient) -> None:
    result = runner.invoke(args=["users", "set-discount", patient.email, "--clear"])
    assert result.exit_code == 0, result.output


def amount_to_pay(page: str) -> str:
    found = re.search(r"Amount to pay</th>\s*<td[^>]*>(₱[0-9,.]+)<", page)
    assert found, page
    return found.group(1)


def test_a_card_recorded_after_the_payment_leaves_the_page_at_the_payments_amount(
    app, runner, patient_client, patient, consultation
):
    payment_id = pay(patient_client, consultation, method="gcash")
    record_card(runner, patient)
    page = patient_client.get(checkout_url(consultation)).text
    # the page shows what Continue charges: the pending payment's ₱1,120.00, no discount
    assert amount_to_pay(page) == "₱1,120.00"
    assert "PWD discount for" not in page
    # and says the price changed, offering a new payment at the new price
    assert "the new price is ₱800.00" in page
    assert "start again at ₱800.00" in page
    assert f'action="/payments/{payment_id}/cancel"' in page
    assert payments_for(app, consultation)[0].amount == Decimal("1120.00")


def test_a_card_removed_after_the_payment_keeps_the_payments_discount_on_the_page(
    app, runner, patient_client, patient, consultation
):
    record_card(runner, patient)
    pay(patient_client, consultation, method="gcash")
    clear_card(runner, patient)
    page = patient_client.get(checkout_url(consultation)).text
    assert amount_to_pay(page) == "₱800.00"
    assert "PWD discount for Lola Remedios (ID PWD-77)" in page
    assert "the new price is ₱1,120.00" in page


def test_starting_again_cancels_and_offers_the_new_price(
    app, runner, patient_client, patient, consultation
):
    payment_id = pay(patient_client, consultation, method="gcash")
    record_card(runner, patient)
    page = patient_client.get(checkout_url(consultation)).text
    cancelled = patient_client.post(
        f"/payments/{payment_id}/cancel",
        data={"csrf_token": hidden_inputs(page).get("csrf_token", "")},
    )
    assert cancelled.status_code == 303
    again = patient_client.get(checkout_url(consultation)).text
    assert amount_to_pay(again) == "₱800.00"
    second = pay(patient_client, consultation, method="gcash")
    with app.app_context():
        assert db.session.get(Payment, second).amount == Decimal("800.00")


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_a_form_shown_before_the_card_was_removed_is_refused_with_the_new_price(
    app, runner, patient_client, patient, consultation, headers
):
    record_card(runner, patient)
    fields = open_form(patient_client, consultation)
    assert fields["amount"] == "800.00"
    clear_card(runner, patient)
    before = payment_count(app)
    refused = submit(patient_client, consultation, fields, method="gcash", headers=headers)
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "The amount changed to ₱1,120.00 because your discount is no longer recorded" in text
    assert payment_count(app) == before
    # the order summary says the new price too (an htmx answer swaps it in out of band)
    assert amount_to_pay(text) == "₱1,120.00"
    if headers:
        assert 'id="order-summary" class="card order-summary"' in text and "hx-swap-oob" in text
    # the form now carries the new price: pressing the button again pays ₱1,120.00
    again = hidden_inputs(text)
    assert again["amount"] == "1120.00"
    assert again["checkout_token"] == fields["checkout_token"]
    paid = submit(patient_client, consultation, again, method="gcash", headers=headers)
    assert paid.status_code in (200, 303), paid.get_data(as_text=True)
    assert [p.amount for p in payments_for(app, consultation)] == [Decimal("1120.00")]


def test_a_form_shown_before_the_card_was_recorded_is_refused_with_the_discount(
    app, runner, patient_client, patient, consultation
):
    fields = open_form(patient_client, consultation)
    assert fields["amount"] == "1120.00"
    record_card(runner, patient)
    refused = submit(patient_client, consultation, fields, method="gcash")
    assert refused.status_code == 409
    assert (
        "The amount changed to ₱800.00 because the clinic recorded your PWD discount"
        in refused.text
    )
    assert payments_for(app, consultation) == []


def test_the_refusal_is_in_the_patients_language(
    app, runner, patient_client, patient, consultation
):
    fields = open_form(patient_client, consultation)
    record_card(runner, patient)
    filipino = {"Accept-Language": "fil-PH"}
    refused = submit(patient_client, consultation, fields, method="gcash", headers=filipino)
    assert refused.status_code == 409
    assert "₱800.00" in refused.text
    assert "The amount changed to" not in refused.text
