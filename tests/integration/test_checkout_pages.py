"""The patient's pages on PostgreSQL and Redis: what each one shows, and to whom."""

from __future__ import annotations

import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.models import PaymentStatus
from tests.support.auth import AuthActions
from tests.support.checkout import checkout_url, pay
from tests.support.lifecycle import age_payment
from tests.support.payments import set_status


@pytest.fixture
def patient(factory):
    return factory.patient(name="Maria Santos")


@pytest.fixture
def consultation(factory, patient):
    return factory.consultation(patient, fee="5000", doctor="Dr. Ana Cruz")


def text(response) -> str:
    return response.get_data(as_text=True)


# My consultations


def test_my_consultations_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_my_consultations_shows_doctor_date_fee_and_a_pay_link(patient_client, consultation):
    page = text(patient_client.get("/"))
    assert "Dr. Ana Cruz" in page
    assert "₱5,000.00" in page
    local = consultation.scheduled_at.astimezone(ZoneInfo("Asia/Manila"))
    assert f"{local.day} {local:%b %Y}, {local:%H:%M}<" in page  # clinic time, no offset
    assert "+08:00" not in page
    assert f'href="{checkout_url(consultation)}"' in page
    assert ">Pay</a>" in page


def test_my_consultations_shows_a_pending_payment_as_a_link_to_its_page(
    patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    page = text(patient_client.get("/"))
    # a link that names the doctor too, for screen readers
    link = rf'href="/payments/{payment_id}">Payment pending<span class="visually-hidden">: '
    assert re.search(
        link + f"see the payment for the consultation with {consultation.doctor_name}<", page
    )
    assert f'href="{checkout_url(consultation)}"' not in page


def test_my_consultations_shows_a_completed_payment_as_paid(app, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    set_status(app, payment_id, PaymentStatus.COMPLETED)
    page = text(patient_client.get("/"))
    assert re.search(rf'href="/payments/{payment_id}">Paid<span', page)


def test_my_consultations_offers_pay_again_after_a_payment_failed(
    app, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    set_status(app, payment_id, PaymentStatus.FAILED)
    page = text(patient_client.get("/"))
    assert f'href="{checkout_url(consultation)}"' in page


def test_my_consultations_lists_only_my_own(app, factory, patient_client, consultation):
    other = factory.patient()
    theirs = factory.consultation(other, fee="1500", doctor="Dr. Someone Else")
    page = text(patient_client.get("/"))
    assert "Dr. Someone Else" not in page
    assert checkout_url(theirs) not in page


# Checkout page


def test_checkout_page_is_never_stored(patient_client, consultation):
    response = patient_client.get(checkout_url(consultation))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_checkout_page_shows_fee_vat_line_methods_and_pay_button(patient_client, consultation):
    page = text(patient_client.get(checkout_url(consultation)))
    assert "Dr. Ana Cruz" in page
    # prices include VAT: one amount, and the VAT it includes in a small line
    assert re.search(r"Amount to pay</th><td[^>]*>₱5,000.00<", page)
    assert "Includes VAT (12%) of ₱535.71." in page
    assert page.count("₱5,000.00") == 2  # the summary and the Pay button, nothing else
    assert "VATable" not in page and "₱4,464.29" not in page
    # the clinic as payee, each method with its own drawn mark, the provider's secure page
    assert 'class="payee"><img src="/static/img/clinic-logo.' in page
    assert page.count('class="method-mark"') == 4
    assert "secure page" in page
    for label in ("Credit or debit card", "GCash", "Bank transfer", "Maya or another e-wallet"):
        assert f"<span>{label}</span>" in page
    assert "Stripe" not in page.split("<main", 1)[1]
    for value in ("stripe", "gcash", "bank_transfer", "e_wallet"):
        assert f'value="{value}"' in page
    assert 'name="checkout_token"' in page
    assert re.search(r'<button type="submit"[^>]*>Continue to payment · ₱5,000.00</button>', page)


def test_checkout_vat_line_follows_the_configured_rate(make_app, factory):
    # given a 5% rate and an odd fee
    app = make_app(TAX_RATE=Decimal("0.05"))
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="2750.50")
    # when the patient opens the checkout
    page = text(AuthActions(app).session_for(patient).get(checkout_url(consultation)))
    # then the VAT in the fee is 2750.50 × 0.05 / 1.05 = 130.976… → 130.98 (half-up)
    assert "Includes VAT (5%) of ₱130.98." in page
    assert "₱2,750.50" in page


def test_checkout_form_is_wired_for_htmx_and_works_without_it(patient_client, consultation):
    page = text(patient_client.get(checkout_url(consultation)))
    form = re.search(r"<form id=\"checkout-form\"[^>]*>", page).group(0)
    assert f'method="post" action="{checkout_url(consultation)}"' in form
    assert f'hx-post="{checkout_url(consultation)}"' in form
    assert 'hx-sync="this:drop"' in form
    assert 'hx-disabled-elt="#checkout-form [type=submit], ' in form
    assert 'role="status"' in page
    assert "Taking you to the payment provider..." in page


def test_each_render_of_the_checkout_mints_a_new_token(patient_client, consultation):
    first = re.search(
        r'name="checkout_token" type="hidden" value="([^"]+)"',
        text(patient_client.get(checkout_url(consultation))),
    )
    second = re.search(
        r'name="checkout_token" type="hidden" value="([^"]+)"',
        text(patient_client.get(checkout_url(consultation))),
    )
    assert first and second and first.group(1) != second.group(1)


def test_checkout_of_a_paid_consultation_shows_the_payment_not_a_button(
    patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    page = text(patient_client.get(checkout_url(consultation)))
    assert "You started a payment by Credit or debit card" in page
    assert "already has a payment" not in page
    # the one way on is the provider (Continue), the payment page a link beside it
    assert f'href="/payments/{payment_id}/continue">Continue to payment</a>' in page
    assert f'href="/payments/{payment_id}"' in page
    # The page's own content: the footer's language switch has its own button.
    assert 'type="submit"' not in page.split("</header>", 1)[1].split("<footer", 1)[0]
    assert "checkout_token" not in page


def test_checkout_after_a_pending_payment_went_stale_offers_pay_again(
    app, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    age_payment(app, payment_id, app.config["PAYMENT_PENDING_TTL"] + 60)
    page = text(patient_client.get(checkout_url(consultation)))
    assert "checkout_token" in page


def test_another_patients_checkout_is_not_found(app, factory, consultation):
    stranger = AuthActions(app).session_for(factory.patient())
    assert stranger.get(checkout_url(consultation)).status_code == 404


def test_an_unknown_consultation_is_not_found(patient_client):
    assert patient_client.get("/consultations/999999/checkout").status_code == 404


def test_staff_get_no_checkout(app, factory, consultation):
    staff = AuthActions(app).session_for(factory.staff())
    response = staff.get(checkout_url(consultation))
    assert response.status_code == 403
    assert "Staff cannot pay" in text(response)
    assert "checkout_token" not in text(response)


# Payment page


def test_payment_page_shows_status_amount_method_invoice_and_times(
    app, patient_client, consultation
):
    payment_id = pay(patient_client, consultation, method="gcash")
    response = patient_client.get(f"/payments/{payment_id}")
    page = text(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Payment pending" in page
    # the amount once, on the button that goes on to the provider
    assert ">Continue to payment · ₱5,000.00</a>" in page
    assert page.count("₱5,000.00") == 1 and "Amount due" not in page
    assert "reserved" not in page and "Includes VAT (12%) of ₱535.71." in page
    assert "Amount charged" not in page and "Not charged" not in page
    assert "GCash" in page
    assert re.search(rf"INV-\d{{14}}-{payment_id}", page)
    assert "+08:00" not in page  # clinic time; the footer names the zone
    assert "Times are Asia/Manila time." in page
    assert "UTC<" not in page and f"Payment #{payment_id}" not in page


def test_a_pending_payment_page_offers_to_continue_to_the_provider(patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    page = text(patient_client.get(f"/payments/{payment_id}"))
    assert f'href="/gateway/sandbox/{payment_id}"' in page
    assert "Continue to payment" in page
    assert 'id="receipt"' not in page


def test_a_paid_payment_page_has_a_printable_receipt_and_no_next_step(
    app, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    set_status(app, payment_id, PaymentStatus.COMPLETED)
    page = text(patient_client.get(f"/payments/{payment_id}"))
    panel, receipt = page.split('id="receipt"', 1)
    assert "Payment successful" in panel and 'data-print="receipt"' in panel
    assert "Maria Santos" in receipt
    assert "Amount paid" in receipt and "₱5,000.00" in receipt
    assert "Price before VAT" in receipt and "VATable" not in page
    assert f"sandbox_txn_{payment_id:06d}" not in page  # the provider's id is for staff
    assert "/gateway/sandbox/" not in page


def test_a_stale_pending_payment_page_offers_to_start_again(app, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    age_payment(app, payment_id, app.config["PAYMENT_PENDING_TTL"] + 60)
    page = text(patient_client.get(f"/payments/{payment_id}"))
    assert "not completed in time" in page
    assert f'href="{checkout_url(consultation)}"' in page
    assert "/gateway/sandbox/" not in page
    # the badge agrees with the words: no "pending" badge on an expired payment
    assert "badge-pending" not in page and "Payment pending" not in page
    assert "badge-expired" in page and "Nothing was charged" in page
    assert page.lower().count("nothing was charged") == 1
    assert re.search(r"Amount tried</dt><dd[^>]*>₱5,000.00<", page)


def test_another_patients_payment_page_is_not_found(app, factory, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    stranger = AuthActions(app).session_for(factory.patient())
    assert stranger.get(f"/payments/{payment_id}").status_code == 404
    assert stranger.get("/payments/999999").status_code == 404


def test_staff_may_open_any_payment_page_but_never_see_a_way_to_pay(
    app, factory, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    staff = AuthActions(app).session_for(factory.staff())
    response = staff.get(f"/payments/{payment_id}")
    page = text(response)
    assert response.status_code == 200
    assert "Payment pending" in page
    assert "/gateway/sandbox/" not in page
    assert checkout_url(consultation) not in page
    # The page's own content: the footer's language switch has its own button.
    assert 'type="submit"' not in page.split("</header>", 1)[1].split("<footer", 1)[0]


def test_staff_read_staff_words_on_a_paid_payment_page(app, factory, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    set_status(app, payment_id, PaymentStatus.COMPLETED)
    staff = AuthActions(app).session_for(factory.staff())
    page = text(staff.get(f"/payments/{payment_id}"))
    assert "You are viewing this payment as staff." in page
    assert "Thank you, this consultation is paid" not in page
    assert "quote your invoice number" not in page  # the patients' footer invitation
    assert "Back to my consultations" not in page
