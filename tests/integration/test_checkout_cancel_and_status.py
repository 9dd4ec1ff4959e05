"""The patient cancels a pending payment; the payment page's live status; the favicon.

On PostgreSQL and Redis through the Flask test client. The cancel goes through
``app.payments.lifecycle`` under the consultation's and the payment's locks; the races
with a provider success are forced in both orders with ``PauseHolder``.
"""

from __future__ import annotations

import pytest

from app.models import PaymentStatus
from app.payments import lifecycle
from tests.support.auth import AuthActions
from tests.support.checkout import (
    HTMX,
    checkout_url,
    open_form,
    pay,
    payments_for,
)
from tests.support.html import hidden_inputs
from tests.support.invariants import check_invariants
from tests.support.lifecycle import age_payment, deliver, provider_event, state
from tests.support.locks import Background, PauseHolder, wait_for_lock_waiters
from tests.support.payments import set_status


@pytest.fixture
def background():
    threads = Background()
    yield threads
    threads.close()


def cancel(client, payment_id: int):
    """Press "Cancel this payment" on the payment page (its own CSRF token)."""
    fields = hidden_inputs(client.get(f"/payments/{payment_id}").get_data(as_text=True))
    return client.post(f"/payments/{payment_id}/cancel", data=fields)


def flashed(client, response) -> str:
    return client.get(response.headers["Location"]).get_data(as_text=True)


# Cancel


def test_cancel_voids_the_payment_records_it_and_offers_the_form_again(
    app, patient_client, consultation
):
    # given a pending payment, its page offering to cancel it
    payment_id = pay(patient_client, consultation, method="gcash")
    page = patient_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert f'action="/payments/{payment_id}/cancel"' in page
    # when the patient cancels
    response = cancel(patient_client, payment_id)
    # then the checkout offers the form again, saying nothing was charged
    assert response.status_code == 303
    assert response.headers["Location"] == checkout_url(consultation)
    checkout = flashed(patient_client, response)
    assert "Your payment was cancelled and nothing was charged." in checkout
    assert 'id="checkout-form"' in checkout
    after = state(app, payment_id)
    assert (after["status"], after["invoice"]) == ("cancelled", "void")
    assert after["events"] == ["created", "cancelled"]
    # and paying again (another method) makes the one active payment
    new_id = pay(patient_client, consultation, method="bank_transfer")
    assert new_id != payment_id
    assert sorted((p.id, p.status) for p in payments_for(app, consultation)) == [
        (payment_id, "cancelled"),
        (new_id, "pending"),
    ]
    page = patient_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert "Nothing was charged" in page and "This payment was cancelled." in page
    assert page.lower().count("nothing was charged") == 1
    assert "Payment cancelled" in page and "Amount tried" in page
    check_invariants(app)


def test_cancelling_twice_changes_nothing_more(app, patient, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    assert cancel(patient_client, payment_id).status_code == 303
    with app.app_context():
        again = lifecycle.cancel(payment_id, user=patient)
    assert again.outcome == "unchanged"
    assert state(app, payment_id)["events"] == ["created", "cancelled"]
    # a second tab's cancel button: it says the payment was cancelled already, not "cancelled"
    stale = cancel(patient_client, payment_id)
    assert stale.status_code == 303
    page = patient_client.get(stale.headers["Location"]).get_data(as_text=True)
    assert "That payment had already been cancelled" in page
    assert "Your payment was cancelled" not in page


def test_a_paid_payment_cannot_be_cancelled_and_the_page_says_why(
    app, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    fields = hidden_inputs(patient_client.get(f"/payments/{payment_id}").get_data(as_text=True))
    set_status(app, payment_id, PaymentStatus.COMPLETED)
    response = patient_client.post(f"/payments/{payment_id}/cancel", data=fields)
    assert response.headers["Location"] == f"/payments/{payment_id}"
    page = flashed(patient_client, response)
    assert "This payment was already paid, so it cannot be cancelled." in page
    assert "Payment successful" in page
    assert state(app, payment_id)["status"] == "completed"


def test_only_the_patient_who_made_it_may_cancel(app, factory, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    for someone in (factory.patient(), factory.staff()):
        client = AuthActions(app).session_for(someone)
        home = client.get("/", follow_redirects=True)  # staff land on the invoice list
        token = hidden_inputs(home.get_data(as_text=True))["csrf_token"]
        response = client.post(f"/payments/{payment_id}/cancel", data={"csrf_token": token})
        assert response.status_code == 404
    assert state(app, payment_id)["status"] == "pending"


def test_a_cancel_without_its_csrf_token_changes_nothing(make_app, factory):
    # given CSRF protection on, as in production
    app = make_app(WTF_CSRF_ENABLED=True)
    patient = factory.patient()
    client = AuthActions(app).session_for(patient)
    payment_id = pay(client, factory.consultation(patient))
    # when the cancel comes without its token, or with a stale one
    for data in ({}, {"csrf_token": "stale"}):
        response = client.post(f"/payments/{payment_id}/cancel", data=data)
        assert response.status_code == 400
        assert "This page has expired" in response.get_data(as_text=True)
    # then nothing changed, and the page's own form cancels
    assert state(app, payment_id)["status"] == "pending"
    assert cancel(client, payment_id).status_code == 303
    assert state(app, payment_id)["status"] == "cancelled"


def test_a_provider_success_after_a_cancel_completes_the_payment_and_says_so(
    app, client, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    cancel(patient_client, payment_id)
    receipt = deliver(client, app, provider_event(payment_id, transaction_id="txn_late"))
    assert receipt.status_code == 200
    after = state(app, payment_id)
    assert (after["status"], after["invoice"]) == ("completed", "paid")
    page = patient_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert "Payment successful" in page
    assert "took this payment after it was cancelled" in page
    check_invariants(app)


# Cancel racing a provider success: one wins, the other is answered in words


def cancel_and_success(app, race, background, database_url, client, payment_id, *, first):
    """Race the patient's cancel and a provider success; ``first`` takes the locks first.

    The first pauses while it holds the locks, until the second provably waits behind them.
    Returns (the cancel's response, the confirmation's Transition).
    """
    fields = hidden_inputs(client.get(f"/payments/{payment_id}").get_data(as_text=True))
    holder = PauseHolder(race)
    calls = {
        "cancel": lambda: background.start(
            app, client.post, f"/payments/{payment_id}/cancel", data=fields
        ),
        "success": lambda: background.start(
            app, lifecycle.confirm, payment_id, transaction_id="txn_race", actor="gateway:test"
        ),
    }
    started = {first: calls[first]()}
    holder.wait_until_holding()
    second = "success" if first == "cancel" else "cancel"
    started[second] = calls[second]()
    wait_for_lock_waiters(database_url)
    holder.release()
    return started["cancel"].result(), started["success"].result()


def test_a_cancel_waiting_behind_a_success_is_told_the_payment_is_paid(
    app, race, background, database_url, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    response, confirmed = cancel_and_success(
        app, race, background, database_url, patient_client, payment_id, first="success"
    )
    # the success won; the cancel re-read the payment under the lock and says why
    assert confirmed.outcome == "confirmed"
    assert response.headers["Location"] == f"/payments/{payment_id}"
    assert "already paid, so it cannot be cancelled" in flashed(patient_client, response)
    after = state(app, payment_id)
    assert after["status"] == "completed" and "cancelled" not in after["events"]
    check_invariants(app)


def test_a_success_waiting_behind_a_cancel_still_completes_the_payment(
    app, race, background, database_url, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    response, confirmed = cancel_and_success(
        app, race, background, database_url, patient_client, payment_id, first="cancel"
    )
    # the cancel happened first, and the money the provider took is never dropped:
    # the payment completes (a late success), and its page says so in words
    assert response.headers["Location"] == checkout_url(consultation)
    assert confirmed.outcome == "confirmed"
    after = state(app, payment_id)
    assert after["events"] == ["created", "cancelled", "confirmed"]
    assert (after["status"], after["invoice"]) == ("completed", "paid")
    page = patient_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert "took this payment after it was cancelled" in page
    check_invariants(app)


# Live status


def status(client, payment_id: int, version: int | None):
    query = "" if version is None else f"?v={version}"
    return client.get(f"/payments/{payment_id}/status{query}", headers=HTMX)


def test_the_live_status_answers_204_until_the_payment_changes_then_stops_polling(
    app, staff, patient_client, consultation
):
    # given a pending payment whose page polls its status
    payment_id = pay(patient_client, consultation)
    page = patient_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    version = state(app, payment_id)["version"]
    poll = f'hx-get="/payments/{payment_id}/status?v={version}" hx-trigger="every 3s"'
    assert poll in page
    assert f'href="/payments/{payment_id}">Check again</a>' in page  # without JavaScript
    # while nothing changed: nothing to swap
    unchanged = status(patient_client, payment_id, version)
    assert unchanged.status_code == 204 and unchanged.get_data() == b""
    # an older page gets the fragment, marked as the app's own, still polling
    older = status(patient_client, payment_id, version - 1)
    assert older.status_code == 200 and older.headers["X-Checkout-Fragment"] == "1"
    assert 'hx-trigger="every 3s"' in older.get_data(as_text=True)
    assert "<html" not in older.get_data(as_text=True)
    # when the provider's success arrives, the next poll brings it, and polling stops
    with app.app_context():
        lifecycle.confirm(payment_id, transaction_id="txn_live", actor="gateway:test")
    paid = status(patient_client, payment_id, version)
    body = paid.get_data(as_text=True)
    assert paid.status_code == 200 and paid.headers["X-Checkout-Fragment"] == "1"
    assert "Payment successful" in body and 'id="receipt"' in body
    assert "hx-trigger" not in body and "Check again" not in body


def test_a_stale_pending_payment_stops_polling(app, patient_client, consultation):
    payment_id = pay(patient_client, consultation)
    version = state(app, payment_id)["version"]
    age_payment(app, payment_id, app.config["PAYMENT_PENDING_TTL"] + 60)
    body = status(patient_client, payment_id, version).get_data(as_text=True)
    assert "not completed in time" in body and "hx-trigger" not in body


def test_the_live_status_is_only_for_whoever_may_see_the_payment(
    app, factory, patient_client, consultation
):
    payment_id = pay(patient_client, consultation)
    assert status(AuthActions(app).session_for(factory.patient()), payment_id, 1).status_code == 404
    assert status(app.test_client(), payment_id, 1).status_code in (302, 401)


# Small things


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert response.get_data()[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age=86400" in response.headers["Cache-Control"]


def test_the_checkout_has_a_way_back_and_a_button_that_says_what_happens_next(
    patient_client, consultation
):
    page = patient_client.get(checkout_url(consultation)).get_data(as_text=True)
    assert '<a href="/"><span aria-hidden="true">‹</span> Back to my consultations</a>' in page
    assert ">Continue to payment · ₱5,000.00</button>" in page
    assert open_form(patient_client, consultation)["checkout_token"]
