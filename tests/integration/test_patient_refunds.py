"""What happened to the patient's money, as the patient reads it: every refund, whole or
partial, with its amount; a second charge the clinic owes back; no amount to pay once paid;
the "you already started a payment" notice through a language change."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale, gettext

from app.extensions import db
from app.models import Payment
from app.payments import lifecycle
from tests.support.auth import AuthActions
from tests.support.checkout import open_form, pay, payments_for, submit
from tests.support.html import hidden_inputs


@pytest.fixture
def patient(factory):
    return factory.patient(name="Maria Santos")


@pytest.fixture
def consultation(factory, patient):
    return factory.consultation(patient, fee="2750.50", doctor="Dr. Ana Cruz")


def _paid(api, client, staff, consultation) -> int:
    payment_id = pay(client, consultation, method="gcash")
    assert api.confirm(staff, payment_id, transaction_id=f"txn_{payment_id}").status_code == 200
    return payment_id


def _main(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return page[page.index("<main") : page.index("</main>")]


def _switch(client, locale: str, path: str):
    fields = hidden_inputs(client.get(path).get_data(as_text=True))
    response = client.post("/language", data={**fields, "locale": locale})
    assert response.status_code == 303 and response.headers["Location"].endswith(path)


def test_a_partial_refund_shows_on_the_payment_page_and_the_list(
    api, patient_client, staff, consultation
):
    # given a paid consultation that staff refunded ₱750.50 of
    payment_id = _paid(api, patient_client, staff, consultation)
    refund = api.refund(staff, payment_id, reason="Lab test not done", amount="750.50")
    assert refund.status_code == 200, refund.json
    # then the payment page names the refund, its reason, and what is paid after it
    page = _main(patient_client, f"/payments/{payment_id}")
    assert re.search(r"The clinic refunded ₱750\.50 on \d{1,2} \w{3} \d{4}, \d\d:\d\d\.", page)
    assert "on its way back to your GCash" in page and "Reason: Lab test not done" in page
    assert re.search(r"Net paid <strong[^>]*>₱2,000\.00<", page)
    assert page.count("₱750.50") == 1  # each amount once
    assert "Paid · partly refunded" in page
    # and the list says so too
    assert "Paid · partly refunded" in _main(patient_client, "/")


def test_a_refund_in_two_parts_names_both_and_the_amounts_agree(
    api, app, patient_client, staff, consultation
):
    # given a payment refunded in two parts (₱500, then the rest), the second returned
    payment_id = _paid(api, patient_client, staff, consultation)
    assert (
        api.refund(staff, payment_id, reason="Lab test not done", amount="500.00").status_code
        == 200
    )
    assert api.refund(staff, payment_id, reason="Doctor unavailable").status_code == 200
    result = app.test_cli_runner().invoke(args=["payments", "send-outbox"])
    assert result.exit_code == 0, result.output
    # then the patient reads both refunds, each with its reason, adding up to "Refunded"
    page = _main(patient_client, f"/payments/{payment_id}")
    amounts = re.findall(r"returned (₱[\d,.]+) to your GCash", page)
    assert amounts == ["₱500.00", "₱2,250.50"], page
    assert "Reason: Lab test not done" in page and "Reason: Doctor unavailable" in page
    assert re.search(r"Refunded</th><td[^>]*>−₱2,750\.50<", page)
    # and so does the consultation's checkout and the invoice staff open
    checkout = _main(patient_client, f"/consultations/{consultation.id}/checkout")
    assert re.findall(r"returned (₱[\d,.]+) to your GCash", checkout) == amounts
    [payment] = payments_for(app, consultation)
    with app.app_context():
        number = db.session.get(Payment, payment.id).invoice.invoice_number
    invoice = _main(AuthActions(app).session_for(staff), f"/staff/invoices/{number}")
    sentences = re.findall(r"Refunded on [^<]*?: (₱[\d,.]+) returned by GCash", invoice)
    assert sentences == ["₱500.00", "₱2,250.50"], invoice


def test_a_second_charge_shows_from_the_consultation_and_the_list(
    api, app, patient, patient_client, staff, consultation
):
    # given a cancelled payment, a second one paid, and the first charged late after all
    first = pay(patient_client, consultation, method="gcash")
    with app.app_context():
        lifecycle.cancel(first, user=patient)
    second = _paid(api, patient_client, staff, consultation)
    # (refused for the cancelled payment, the charge recorded as one to refund)
    assert api.confirm(staff, first, transaction_id=f"txn_{first}").status_code == 409
    # then the list, the consultation and the paid payment's page all say it is owed back
    owed = f'href="/payments/{first}"'
    listing = _main(patient_client, "/")
    assert "A closed payment was charged: ₱2,750.50 to be refunded" in listing and owed in listing
    for path in (f"/consultations/{consultation.id}/checkout", f"/payments/{second}"):
        page = _main(patient_client, path)
        assert "took ₱2,750.50 for a payment of this consultation after it had closed" in page, path
        assert owed in page, path


def test_a_paid_consultation_shows_no_amount_to_pay(api, patient_client, staff, consultation):
    checkout = f"/consultations/{consultation.id}/checkout"
    assert "Amount to pay" in _main(patient_client, checkout)
    _paid(api, patient_client, staff, consultation)
    page = _main(patient_client, checkout)
    assert "This consultation is paid" in page
    assert "Amount to pay" not in page and "₱2,750.50" not in page


def test_the_already_started_notice_stays_through_a_language_change(
    app, patient_client, consultation
):
    # given two tabs: the second one's Pay lands on the first one's payment, with the notice
    tab_a, tab_b = open_form(patient_client, consultation), open_form(patient_client, consultation)
    submit(patient_client, consultation, tab_a, method="gcash")
    second = submit(patient_client, consultation, tab_b, method="bank_transfer")
    path = second.headers["Location"]
    assert "Bank transfer was not used" in _main(patient_client, path)
    # when the patient changes the language on that page
    _switch(patient_client, "id", path)
    # then the notice is still there, in Indonesian
    with app.test_request_context(), force_locale("id"):
        notice = gettext(
            "You had already started a payment by %(method)s, so no second one was made and "
            "%(chosen)s was not used. To pay by %(chosen)s, cancel this payment first.",
            method=gettext("GCash"),
            chosen=gettext("Bank transfer"),
        )
    assert notice in _main(patient_client, path)
    # and it ends once the patient moves on
    patient_client.get("/")
    assert "flash-notice" not in _main(patient_client, path)
