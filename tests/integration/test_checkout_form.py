"""The Pay form on PostgreSQL and Redis: one payment per form, refusals in plain words."""

from __future__ import annotations

import time

import psycopg
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.engine import make_url

from app.checkout.tokens import SALT, CheckoutTokens, idempotency_key
from app.payments.idempotency import hash_key
from tests.support.auth import AuthActions
from tests.support.checkout import (
    HTMX,
    checkout_url,
    open_form,
    payment_count,
    payments_for,
    submit,
)
from tests.support.factory import Factory
from tests.support.html import hidden_inputs
from tests.support.invariants import check_invariants


def text(response) -> str:
    return response.get_data(as_text=True)


def payment_path(response) -> str:
    return response.headers.get("HX-Redirect") or response.headers["Location"]


@pytest.fixture
def pg(database_url):
    """A second connection to the test's database, to hold locks the app must wait on."""
    url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url) as conn:
        yield conn


# Success and repeats


def test_a_plain_post_pays_and_redirects_with_303_straight_to_the_provider(
    app, patient_client, consultation
):
    response = submit(patient_client, consultation, open_form(patient_client, consultation))
    [payment] = payments_for(app, consultation)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/gateway/sandbox/{payment.id}"
    assert payment.payment_method == "stripe"
    assert payment.amount == 5000
    check_invariants(app)


def test_an_htmx_post_pays_and_answers_with_hx_redirect_to_the_provider(
    app, patient_client, consultation
):
    fields = open_form(patient_client, consultation)
    response = submit(patient_client, consultation, fields, method="gcash", headers=HTMX)
    [payment] = payments_for(app, consultation)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/gateway/sandbox/{payment.id}"
    assert "HX-Request" in response.vary
    assert payment.payment_method == "gcash"


def test_the_same_form_submitted_five_times_makes_one_payment(app, patient_client, consultation):
    # given one rendered form
    fields = open_form(patient_client, consultation)
    # when it is submitted again and again, with and without htmx
    responses = [
        submit(patient_client, consultation, fields, headers=HTMX if i % 2 else None)
        for i in range(5)
    ]
    # then every submit goes to the same payment at the provider, without a notice
    [payment] = payments_for(app, consultation)
    assert {payment_path(r) for r in responses} == {f"/gateway/sandbox/{payment.id}"}
    page = text(patient_client.get(f"/payments/{payment.id}"))
    assert "already has a payment" not in page
    check_invariants(app)


def test_a_second_tab_lands_on_the_existing_payment_with_a_notice(
    app, patient_client, consultation
):
    # given two tabs with their own forms
    tab_a = open_form(patient_client, consultation)
    tab_b = open_form(patient_client, consultation)
    assert tab_a["checkout_token"] != tab_b["checkout_token"]
    # when both pay
    first = submit(patient_client, consultation, tab_a)
    second = submit(patient_client, consultation, tab_b, method="bank_transfer")
    # then the first goes to the provider; the second lands on that payment's page, which
    # says so and offers to continue to the provider
    [payment] = payments_for(app, consultation)
    assert payment_path(first) == f"/gateway/sandbox/{payment.id}"
    assert payment_path(second) == f"/payments/{payment.id}"
    assert second.status_code == 303
    page = text(patient_client.get(payment_path(second)))
    # naming the method this tab chose, which was not used
    assert (
        "You had already started a payment by Credit or debit card, so no second one was made "
        "and Bank transfer was not used. To pay by Bank transfer, cancel this payment first."
    ) in page
    assert "flash-notice" in page
    assert f'href="/gateway/sandbox/{payment.id}">Continue to payment · ₱5,000.00<' in page


def test_back_and_pay_again_with_another_method_lands_on_the_same_payment(
    app, patient_client, consultation
):
    fields = open_form(patient_client, consultation)
    first = submit(patient_client, consultation, fields, method="stripe")
    again = submit(patient_client, consultation, fields, method="e_wallet")
    [payment] = payments_for(app, consultation)
    assert payment_path(first) == f"/gateway/sandbox/{payment.id}"
    assert payment_path(again) == f"/payments/{payment.id}"  # with "already has a payment"
    assert payment.payment_method == "stripe"


def test_the_form_token_is_the_idempotency_key_the_service_stores(
    app, patient_client, consultation
):
    fields = open_form(patient_client, consultation)
    submit(patient_client, consultation, fields, method="gcash")
    nonce = CheckoutTokens(app.config["SECRET_KEY"], 3600).verify(
        fields["checkout_token"], consultation.patient_id, consultation.id
    )
    [payment] = payments_for(app, consultation)
    assert payment.idempotency_key_hash == hash_key(idempotency_key(nonce, "gcash"))


# Refusals: nothing written, words in the page


def test_no_method_chosen_gives_422_inside_the_page(app, patient_client, consultation):
    response = submit(
        patient_client, consultation, open_form(patient_client, consultation), method=None
    )
    assert response.status_code == 422
    assert '<p class="field-error">Choose how you want to pay.</p>' in text(response)
    assert "Please check the form" in text(response)
    assert "<html" in text(response)
    assert payment_count(app) == 0
    # the page's own error, not the browser's bubble: no radio is `required`
    form = text(response).split('id="checkout-form"', 1)[1].split("</form>", 1)[0]
    assert 'name="payment_method"' in form and "required" not in form


def test_an_unknown_method_gives_422_and_keeps_the_same_token(app, patient_client, consultation):
    fields = open_form(patient_client, consultation)
    response = submit(patient_client, consultation, fields, method="cash", headers=HTMX)
    assert response.status_code == 422
    page = text(response)
    # htmx gets only the form to swap in place, with the same token for the retry
    assert "<html" not in page
    assert 'id="checkout-form"' in page
    assert "Choose one of the listed methods." in page
    assert hidden_inputs(page)["checkout_token"] == fields["checkout_token"]
    assert payment_count(app) == 0


def test_a_token_for_another_consultation_cannot_pay_for_this_one(
    app, factory, patient, patient_client, consultation
):
    other = factory.consultation(patient, fee="1500")
    fields = open_form(patient_client, other)
    response = submit(patient_client, consultation, fields)
    assert response.status_code == 400
    assert "Reload the page" in text(response)
    assert payment_count(app) == 0


def test_a_token_minted_for_another_patient_cannot_pay(app, factory, consultation, patient_client):
    stranger = factory.patient()
    token = CheckoutTokens(app.config["SECRET_KEY"], 3600).mint(stranger.id, consultation.id)
    response = submit(patient_client, consultation, {"checkout_token": token})
    assert response.status_code == 400
    assert payment_count(app) == 0


def test_a_forged_or_missing_token_cannot_pay(app, patient_client, consultation):
    fields = open_form(patient_client, consultation)
    forged = submit(
        patient_client, consultation, {"checkout_token": fields["checkout_token"] + "x"}
    )
    missing = submit(patient_client, consultation, {})
    assert forged.status_code == missing.status_code == 400
    assert payment_count(app) == 0


class _LongAgoSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 2 * 24 * 3600


def test_an_expired_page_token_offers_a_reload(app, patient, patient_client, consultation):
    # given a form rendered two days ago (CHECKOUT_TOKEN_MAX_AGE is one day)
    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT, signer=_LongAgoSigner)
    token = old.dumps({"u": patient.id, "c": consultation.id, "n": "abc"})
    # when it is submitted
    response = submit(patient_client, consultation, {"checkout_token": token}, headers=HTMX)
    # then nothing is paid and the page says to reload, with a fresh form
    assert response.status_code == 400
    page = text(response)
    assert "This page has expired" in page
    assert f'href="{checkout_url(consultation)}"' in page
    assert hidden_inputs(page)["checkout_token"] != token
    assert payment_count(app) == 0


def test_an_expired_csrf_token_offers_a_reload_then_the_new_form_pays(make_app, factory):
    # given CSRF protection on, as in production
    app = make_app(WTF_CSRF_ENABLED=True)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = AuthActions(app).session_for(patient)
    fields = open_form(client, consultation)
    # when the CSRF token is no longer valid
    refused = submit(client, consultation, {**fields, "csrf_token": "expired"})
    # then the page itself says so, offers a reload, and nothing is paid
    assert refused.status_code == 400
    assert "This page has expired" in text(refused)
    assert "Reload the page" in text(refused)
    assert 'id="checkout-form"' in text(refused)
    assert payment_count(app) == 0
    # and the form that came back pays
    retry = submit(client, consultation, hidden_inputs(text(refused)))
    assert retry.status_code == 303
    assert payment_count(app) == 1


def test_a_logged_out_submit_goes_to_the_login_page(make_app, factory):
    app = make_app(WTF_CSRF_ENABLED=True)
    consultation = factory.consultation(factory.patient())
    response = app.test_client().post(checkout_url(consultation), data={}, headers=HTMX)
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    assert payment_count(app) == 0


def test_a_busy_database_gives_503_with_please_try_again(make_app, factory, pg):
    # given a short lock bound and another transaction holding the consultation's row
    app = make_app(PAYMENT_LOCK_TIMEOUT_MS=300)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = AuthActions(app).session_for(patient)
    fields = open_form(client, consultation)
    pg.execute("SELECT id FROM consultations WHERE id = %s FOR UPDATE", [consultation.id])
    # when the patient pays
    refused = submit(client, consultation, fields, headers=HTMX)
    # then the form says to try again in a moment, and nothing is written
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert "Please try again in a moment" in text(refused)
    assert hidden_inputs(text(refused))["checkout_token"] == fields["checkout_token"]
    pg.rollback()
    assert payment_count(app) == 0
    # and pressing Pay again on the same form pays
    assert submit(client, consultation, fields).status_code == 303
    check_invariants(app)


def test_a_submit_still_running_elsewhere_gives_409_wait_a_moment(make_app, factory, pg):
    # given the same form's first submit still holding its idempotency key
    app = make_app(PAYMENT_LOCK_TIMEOUT_MS=300)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = AuthActions(app).session_for(patient)
    fields = open_form(client, consultation)
    nonce = CheckoutTokens(app.config["SECRET_KEY"], 3600).verify(
        fields["checkout_token"], patient.id, consultation.id
    )
    pg.execute(
        "INSERT INTO idempotency_keys (user_id, key_hash, fingerprint, state, created_at, "
        "expires_at) VALUES (%s, %s, 'x', 'processing', now(), now() + interval '1 day')",
        [patient.id, hash_key(idempotency_key(nonce, "stripe"))],
    )
    # when the patient presses Pay again
    refused = submit(client, consultation, fields, headers=HTMX)
    # then the form asks them to wait a moment
    assert refused.status_code == 409
    assert "still being processed" in text(refused)
    assert refused.headers["Retry-After"] == "1"
    pg.rollback()
    assert payment_count(app) == 0


def test_another_patients_consultation_cannot_be_paid(app, factory, consultation):
    stranger = AuthActions(app).session_for(factory.patient())
    response = submit(stranger, consultation, {"checkout_token": "whatever"})
    assert response.status_code == 404
    htmx = submit(stranger, consultation, {"checkout_token": "whatever"}, headers=HTMX)
    assert htmx.status_code == 404
    assert "<html" not in text(htmx)
    assert payment_count(app) == 0


def test_staff_cannot_pay(app, factory, consultation):
    staff = AuthActions(app).session_for(factory.staff())
    response = submit(staff, consultation, {"checkout_token": "whatever"})
    assert response.status_code == 403
    assert payment_count(app) == 0


def test_the_checkout_works_on_sqlite_as_make_dev_runs_it(sqlite_app):
    # given the embedded default: a SQLite file and the in-process Redis stand-in
    factory = Factory(sqlite_app)
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="2750.50")
    client = AuthActions(sqlite_app).session_for(patient)
    # when the same form is submitted twice and a second tab pays too
    fields = open_form(client, consultation)
    other_tab = open_form(client, consultation)
    first = submit(client, consultation, fields)
    again = submit(client, consultation, fields, headers=HTMX)
    other = submit(client, consultation, other_tab)
    # then there is one payment, and every submit lands on it (at the provider, or its page)
    [payment] = payments_for(sqlite_app, consultation)
    assert [payment_path(r) for r in (first, again, other)] == [
        f"/gateway/sandbox/{payment.id}",
        f"/gateway/sandbox/{payment.id}",
        f"/payments/{payment.id}",
    ]
    page = text(client.get(f"/payments/{payment.id}"))
    assert "₱2,750.50" in page
    assert "₱294.70" in page  # VAT in 2,750.50 at 12%: 2750.50 × 0.12 / 1.12 = 294.696… → 294.70
    check_invariants(sqlite_app)
