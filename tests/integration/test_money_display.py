"""What the patient and staff read about money is true: the same VAT numbers everywhere,
words that match each payment state, refunded consultations closed, who was paid."""

from __future__ import annotations

import csv
import io
import re

import pytest

from app.payments import lifecycle
from tests.support.auth import AuthActions
from tests.support.checkout import (
    checkout_url,
    open_form,
    pay,
    payment_count,
    submit,
)
from tests.support.lifecycle import age_payment

# The example: ₱1,250.00 at 12%, VAT included.
VATABLE, VAT, TOTAL = "1,116.07", "133.93", "1,250.00"


@pytest.fixture
def patient(factory):
    return factory.patient(name="Maria Santos")


@pytest.fixture
def consultation(factory, patient):
    return factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")


@pytest.fixture
def staff_client(app, staff):
    return AuthActions(app).session_for(staff)


def _paid(api, client, staff, consultation, method="gcash") -> int:
    payment_id = pay(client, consultation, method=method)
    assert api.confirm(staff, payment_id, transaction_id=f"txn_{payment_id}").status_code == 200
    return payment_id


def _three_numbers(html: str, total_label: str, base_label: str = "VATable sales") -> None:
    assert re.search(rf"{base_label}</th>\s*<td[^>]*>₱{VATABLE}<", html), base_label
    assert re.search(rf"VAT \(12%\)</th>\s*<td[^>]*>₱{VAT}<", html), "VAT"
    assert re.search(rf"{total_label}</th>\s*<td[^>]*>₱{TOTAL}<", html), total_label


def test_checkout_payment_page_receipt_invoice_csv_and_api_show_the_same_three_numbers(
    api, app, patient_client, staff_client, patient, staff, consultation
):
    checkout = patient_client.get(checkout_url(consultation)).text
    assert re.search(rf"Amount to pay</th>\s*<td[^>]*>₱{TOTAL}<", checkout)
    assert f"Includes VAT (12%) of ₱{VAT}." in checkout
    payment_id = _paid(api, patient_client, staff, consultation)
    page = patient_client.get(f"/payments/{payment_id}").text
    # the paid page: "Amount charged" in the success panel, the three numbers once, in the receipt
    assert re.search(rf"Amount charged <strong[^>]*>₱{TOTAL}<", page)
    _three_numbers(page.split('id="receipt"', 1)[1], "Amount paid", "Price before VAT")
    assert page.count("Price before VAT") == 1 and "VATable" not in page
    number = re.search(rf"INV-\d{{14}}-{payment_id}", page).group(0)
    # the invoice names them as the BIR does (docs/invoices.md)
    invoice_page = staff_client.get(f"/staff/invoices/{number}").text
    _three_numbers(invoice_page, "Amount charged", "VATable sales")
    [row] = csv.DictReader(io.StringIO(staff_client.get("/staff/invoices.csv").text))
    assert (row["vatable_amount"], row["vat_amount"], row["amount"]) == (
        "1116.07",
        "133.93",
        "1250.00",
    )
    tax = api.get(patient, payment_id).json["data"]["tax_record"]
    assert (tax["taxable_base"], tax["amount"], tax["total"]) == ("1116.07", "133.93", "1250.00")


def test_the_receipt_and_invoice_say_who_was_paid_and_every_page_how_to_get_help(
    api, app, client, patient_client, staff, consultation
):
    payment_id = _paid(api, patient_client, staff, consultation)
    page = patient_client.get(f"/payments/{payment_id}").text
    receipt = page.split('id="receipt"', 1)[1].split("</section>", 1)[0]
    number = re.search(r"INV-\d{14}-\d+", page).group(0)
    staff_page = AuthActions(app).session_for(staff).get(f"/staff/invoices/{number}").text
    invoice = staff_page.split('class="card invoice-sheet"', 1)[1].split("</article>", 1)[0]
    for part in (receipt, invoice):
        assert "Demo Family Clinic" in part
        assert "123 Demo Street" in part
        assert "VAT Reg. TIN 000-123-456-00000" in part
    for html in (page, client.get("/login").text, patient_client.get("/").text):
        footer = html.split('<footer class="site-footer">', 1)[1]
        assert "mailto:billing@clinic.example" in footer and "+63 2 8123 4567" in footer


def test_a_refunded_payment_reads_refunded_everywhere(
    api, app, patient_client, staff_client, staff, consultation
):
    # given a paid consultation that staff refunded with a reason
    payment_id = _paid(api, patient_client, staff, consultation, method="gcash")
    reason = "Doctor unavailable; clinic cancelled"
    assert api.refund(staff, payment_id, reason=reason).status_code == 200
    # then the payment page says what happened to the money: one refund sentence, the amount
    # charged, a "Refunded −₱…" line and the net, each amount once
    page = patient_client.get(f"/payments/{payment_id}").text
    assert (
        len(
            re.findall(
                r"The clinic refunded this payment on \d{1,2} \w{3} \d{4}, \d\d:\d\d\.", page
            )
        )
        == 1
    )
    assert "on its way back to your GCash" in page
    assert f"Reason: {reason}" in page
    assert re.search(rf"Amount charged</th><td[^>]*>₱{TOTAL}<", page)
    assert re.search(rf"Refunded</th><td[^>]*>−₱{TOTAL}<", page)
    assert re.search(r"Net paid</th><td[^>]*>₱0.00<", page)
    assert page.count(f"₱{TOTAL}") == 2 and "+08:00" not in page
    assert "badge-refunded" in page
    for wrong in ("did not go through", "nothing was charged", "Not charged", "Pay again"):
        assert wrong not in page
    # my consultations shows it refunded, with no Pay button
    mine = patient_client.get("/").text
    item = mine.split(f'data-consultation-id="{consultation.id}"', 1)[1].split("</li>", 1)[0]
    assert ">Refunded<span" in item and ">Pay</a>" not in item
    # the staff invoice says it too
    number = re.search(rf"INV-\d{{14}}-{payment_id}", page).group(0)
    staff_page = staff_client.get(f"/staff/invoices/{number}").text
    # the staff list keeps its paid time (a refund does not make it unpaid)
    listed = staff_client.get(f"/staff/invoices?number={number}").text
    row = listed.split(f'data-invoice-number="{number}"', 1)[1].split("</tr>", 1)[0]
    paid_cell = row.split('data-label="Paid">', 1)[1].split("</td>", 1)[0]
    assert "<time" in paid_cell and "—" not in paid_cell
    # (and, on the staff page, who refunded it)
    by_staff = re.escape(f" +08:00 by {staff.name}: ₱1,250.00 to be returned by GCash.")
    assert re.search(r"Refunded on \d{1,2} \w{3} \d{4}, \d\d:\d\d" + by_staff, staff_page)
    assert reason in staff_page


def test_a_refunded_consultation_is_closed_for_payment(
    api, app, patient_client, patient, staff, consultation
):
    payment_id = _paid(api, patient_client, staff, consultation)
    api.refund(staff, payment_id, reason="Clinic cancelled")
    before = payment_count(app)
    # the checkout page offers no Pay form
    page = patient_client.get(checkout_url(consultation)).text
    assert "This consultation was refunded" in page and "checkout-form" not in page
    assert "Amount to pay" not in page and "Amount charged" not in page  # no pay box
    # the API refuses with its own problem type and a sentence a patient understands
    response = api.pay(patient, consultation, key="after-refund")
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "/problems/consultation-refunded"
    assert "was refunded, so it cannot be paid again" in response.json["detail"]
    assert payment_count(app) == before


def test_a_pay_form_from_before_the_refund_cannot_pay_after_it(
    api, app, factory, patient_client, staff, consultation
):
    # given a Pay form opened while the consultation could still be paid (its first
    # payment was declined, then another tab paid, and staff refunded that payment)
    first = pay(patient_client, consultation)
    with app.app_context():
        lifecycle.fail(first, reason="card_declined", actor="gateway:test")
    old_tab = open_form(patient_client, consultation)
    paid = _paid(api, patient_client, staff, consultation)
    api.refund(staff, paid, reason="Clinic cancelled")
    before = payment_count(app)
    # when the old tab presses Pay
    response = submit(patient_client, consultation, old_tab)
    # then it lands on the checkout page, which says why, and nothing was written
    assert response.status_code == 303
    assert response.headers["Location"] == checkout_url(consultation)
    page = patient_client.get(checkout_url(consultation)).text
    assert "was refunded, so it cannot be paid again" in page
    assert payment_count(app) == before


@pytest.mark.parametrize(
    ("setup", "words", "badge"),
    [
        ("pending", ["Amount due", "Nothing has been charged yet"], "Payment pending"),
        (
            "declined",
            ["Nothing was charged", "declined this payment.", "Amount tried", "Pay again"],
            "Payment declined",
        ),
        (
            "stale",
            ["Nothing was charged", "not completed in time.", "Amount tried", "Start again"],
            "Payment expired",
        ),
        ("paid", ["Amount charged", "this consultation is paid"], "Paid"),
    ],
)
def test_each_state_says_charged_due_or_not_charged(
    api, app, patient_client, staff, consultation, setup, words, badge
):
    payment_id = pay(patient_client, consultation)
    if setup == "declined":
        with app.app_context():
            lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")
    elif setup == "stale":
        age_payment(app, payment_id, app.config["PAYMENT_PENDING_TTL"] + 60)
    elif setup == "paid":
        api.confirm(staff, payment_id, transaction_id="txn_words")
    page = patient_client.get(f"/payments/{payment_id}").text
    for word in words:
        assert word in page
    assert re.search(
        rf'<h1>Consultation with Dr\. Ana Cruz <span class="badge[^"]*">{badge}</span>', page
    )
    assert f"Payment #{payment_id}" not in page
    if setup != "paid":
        assert "Amount charged" not in page
        assert page.count("₱1,250.00") == 1  # the amount once: due, or tried
    assert page.lower().count("nothing was charged") <= 1
    assert page.lower().count("nothing has been charged") <= 1


def test_a_cancelled_payment_the_provider_charged_anyway_reads_charged_to_be_refunded(
    api, app, patient, patient_client, staff, staff_client, consultation
):
    # given a payment cancelled while its provider page stayed open, and a new one started
    cancelled = pay(patient_client, consultation, method="stripe")
    with app.app_context():
        lifecycle.cancel(cancelled, user=patient)
    current = pay(patient_client, consultation, method="gcash")
    # when the provider reports the old page's charge (recorded for staff, not applied)
    late = api.confirm(staff, cancelled, transaction_id="txn_stale_tab")
    assert late.status_code == 409 and late.json["type"] == "/problems/duplicate-charge"
    # then the patient is not told "nothing was charged" about money that was taken
    page = patient_client.get(f"/payments/{cancelled}").text
    assert "A charge to be refunded" in page
    assert "took this payment after it was closed" in page
    assert re.search(rf"Charged, to be refunded</th><td[^>]*>₱{TOTAL}<", page)
    assert page.count(f"₱{TOTAL}") == 1
    assert "nothing was charged" not in page.lower()
    assert f'href="/payments/{current}"' in page
    # nor are staff, who cannot delete it as a payment that "moved no money"
    number = re.search(r"INV-\d+-\d+", page).group(0)
    invoice = staff_client.get(f"/staff/invoices/{number}").text
    assert "Charged, to be refunded" in invoice
    assert "Not charged" not in invoice
    with app.app_context(), pytest.raises(lifecycle.PaymentNotDeletable):
        lifecycle.delete(cancelled, reason="tidy up", actor=staff)
