"""The JSON API on PostgreSQL and Redis: the seed's tests, ported, and the 4xx rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import IdempotencyKey, Payment, PaymentEvent
from app.payments.idempotency import hash_key
from tests.support.api import ApiClient
from tests.support.factory import auth
from tests.support.invariants import payment_row_counts


def test_duplicate_request_with_idempotency_key_returns_the_same_payment(
    app, api, patient, consultation
):
    # given a first request with a key
    first = api.pay(patient, consultation.id, idempotency_key="test-payment-1", amount=5000)
    # when the same request is sent again
    second = api.pay(patient, consultation.id, idempotency_key="test-payment-1", amount=5000)
    # then both carry the same payment and only one row exists
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert first.json["data"]["payment"]["id"] == second.json["data"]["payment"]["id"]
    assert second.json == first.json
    assert payment_row_counts(app)["payments"] == 1


def test_rapid_requests_without_a_key_give_409_on_the_second(app, api, patient, consultation):
    first = api.pay(patient, consultation.id)
    second = api.pay(patient, consultation.id)
    third = api.pay(patient, consultation.id)
    assert first.status_code == 201
    assert second.status_code == third.status_code == 409
    assert second.mimetype == "application/problem+json"
    assert second.json["existing_payment_id"] == first.json["data"]["payment"]["id"]
    assert second.json["existing_payment_status"] == "pending"
    assert "already has a pending payment" in second.json["detail"]
    assert payment_row_counts(app)["payments"] == 1


def test_created_payment_has_its_invoice_tax_record_and_event(app, api, patient, consultation):
    response = api.pay(patient, consultation.id, idempotency_key="k1")
    body = response.json["data"]
    assert body["payment"]["amount"] == "5000.00"
    assert body["payment"]["currency"] == "PHP"
    assert body["payment"]["status"] == "pending"
    assert body["invoice"]["invoice_number"].startswith("INV-")
    assert body["invoice"]["invoice_number"].endswith(f"-{body['payment']['id']}")
    assert response.headers["Location"] == f"/api/v1/payments/{body['payment']['id']}"
    with app.app_context():
        payment = db.session.get(Payment, body["payment"]["id"])
        # VAT included in the ₱5,000.00 fee: 5000 × 0.12 / 1.12 = 535.714… → 535.71
        assert str(payment.tax_record.amount) == "535.71"
        assert str(payment.tax_record.taxable_base) == "4464.29"
        assert payment.tax_record.prices_include_vat is True
        assert str(payment.tax_record.rate) == "0.1200"
        assert payment.invoice.status == "pending"
        assert [e.event_type for e in payment.events] == ["created"]


def test_a_quoted_header_key_and_the_same_body_key_are_one_key(app, api, patient, consultation):
    first = api.pay(patient, consultation.id, idempotency_key="hdr-key", key='"hdr-key"')
    second = api.pay(patient, consultation.id, key="hdr-key")
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "change",
    [
        {"method": "stripe"},
        {"amount": "5000.00"},
    ],
)
def test_same_key_for_a_different_request_is_422_and_writes_nothing(
    app, api, patient, consultation, change
):
    api.pay(patient, consultation.id, idempotency_key="reused")
    before = payment_row_counts(app)
    response = api.pay(patient, consultation.id, idempotency_key="reused", **change)
    assert response.status_code == 422
    assert response.json["type"] == "/problems/idempotency-key-reused"
    assert payment_row_counts(app) == before


def test_same_key_for_another_consultation_is_422(app, api, factory, patient, consultation):
    other = factory.consultation(patient, fee="1500")
    api.pay(patient, consultation.id, idempotency_key="reused")
    before = payment_row_counts(app)
    response = api.pay(patient, other.id, idempotency_key="reused")
    assert response.status_code == 422
    assert payment_row_counts(app) == before


def test_key_of_another_user_does_not_replay_their_response(app, api, factory):
    a, b = factory.patient(), factory.patient()
    ca, cb = factory.consultation(a), factory.consultation(b)
    ra = api.pay(a, ca.id, idempotency_key="same-string")
    rb = api.pay(b, cb.id, idempotency_key="same-string")
    assert ra.status_code == rb.status_code == 201
    assert "Idempotent-Replayed" not in rb.headers
    assert ra.json["data"]["payment"]["id"] != rb.json["data"]["payment"]["id"]
    assert payment_row_counts(app)["payments"] == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"payment_method": "cash"}, 422),
        ({"amount": 999.99}, 422),
        ({"amount": 1500}, 422),
        ({"amount": -5000}, 422),
        ({"amount": "1,000"}, 422),
        ({"amount": "٥٠٠٠"}, 422),
        ({"amount": ""}, 422),
        ({"amount": True}, 422),
        ({"idempotency_key": ""}, 422),
        ({"idempotency_key": "x" * 256}, 422),
        ({"idempotency_key": "bad\nkey"}, 422),
        ({"idempotency_key": "clé"}, 422),
        ({"idempotency_key": 12}, 422),
        ({"consultation_id": 0}, 422),
        ({"consultation_id": -1}, 422),
        ({"consultation_id": "1"}, 422),
        ({"consultation_id": 10**30}, 404),
        ({"consultation_id": 999999}, 404),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    app, api, patient, consultation, body, status
):
    before = payment_row_counts(app)
    response = api.pay(patient, consultation, **body)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == status
    assert response.json["detail"]
    assert payment_row_counts(app) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"consultation_id": NaN}', "application/json", 400),
        ("consultation_id=1", "application/x-www-form-urlencoded", 415),
        ('{"amount": 1e309}', "application/json", 422),
        ("[" * 20_000, "application/json", 400),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "application/json", 400),
    ],
)
def test_malformed_bodies_are_refused(
    app, client, patient, consultation, data, content_type, status
):
    before = payment_row_counts(app)
    response = client.post(
        "/api/v1/payments", data=data, content_type=content_type, headers=auth(patient)
    )
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert payment_row_counts(app) == before


def test_body_over_the_size_limit_is_413(app, client, patient, consultation):
    data = '{"pad": "' + "x" * (app.config["MAX_CONTENT_LENGTH"] + 10) + '"}'
    response = client.post(
        "/api/v1/payments", data=data, content_type="application/json", headers=auth(patient)
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_missing_or_wrong_token_is_401(client, consultation):
    payload = {"consultation_id": consultation.id, "payment_method": "stripe"}
    assert client.post("/api/v1/payments", json=payload).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    response = client.post("/api/v1/payments", json=payload, headers=wrong)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_patients_consultation_is_404_and_staff_get_403(app, api, factory, consultation):
    stranger, staff = factory.patient(), factory.staff()
    assert api.pay(stranger, consultation.id).status_code == 404
    response = api.pay(staff, consultation.id)
    assert response.status_code == 403
    assert payment_row_counts(app)["payments"] == 0


def test_get_payment_shows_invoice_tax_and_events_to_owner_and_staff_only(
    api, app, client, factory, patient, consultation
):
    created = api.pay(patient, consultation.id, idempotency_key="g1").json["data"]["payment"]
    api.pay(patient, consultation.id, idempotency_key="g1")
    mine = api.get(patient, created["id"])
    assert mine.status_code == 200
    data = mine.json["data"]
    tax = data["tax_record"]
    assert (tax["taxable_base"], tax["amount"], tax["total"]) == ("4464.29", "535.71", "5000.00")
    assert tax["total"] == data["payment"]["amount"] == data["invoice"]["amount"]
    # The replay changed nothing, so it is not an event (its key counts it).
    assert [e["type"] for e in data["events"]] == ["created"]
    assert api.get(factory.staff(), created["id"]).status_code == 200
    assert api.get(factory.patient(), created["id"]).status_code == 404
    assert client.get(mine.request.path).status_code == 401  # no token at all


def test_refused_attempts_are_counted_on_their_key_not_as_events(app, api, patient, consultation):
    first = api.pay(patient, consultation.id, idempotency_key="a")
    refused = api.pay(patient, consultation.id, idempotency_key="b")
    payment_id = first.json["data"]["payment"]["id"]
    with app.app_context():
        types = db.session.scalars(
            select(PaymentEvent.event_type)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.id)
        ).all()
        stored = db.session.execute(
            select(IdempotencyKey.response_status, IdempotencyKey.payment_id).where(
                IdempotencyKey.key_hash == hash_key("b")
            )
        ).one()
    assert refused.status_code == 409
    assert types == ["created"]
    assert tuple(stored) == (409, payment_id)


def test_with_vat_added_to_prices_the_amount_charged_is_fee_plus_vat(make_app, factory):
    # given prices that exclude VAT
    app = make_app(PRICES_INCLUDE_VAT=False)
    api = ApiClient(app)
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="5000")
    # when the client sends the fee alone, it is refused and nothing is written
    wrong = api.pay(patient, consultation, amount="5000.00")
    assert wrong.status_code == 422
    assert "5600.00" in wrong.json["errors"]["amount"]
    # then the fee plus VAT is the amount
    right = api.pay(patient, consultation, amount="5600.00")
    assert right.status_code == 201, right.json
    assert right.json["data"]["payment"]["amount"] == "5600.00"
    assert right.json["data"]["invoice"]["amount"] == "5600.00"
    tax = api.get(patient, right.json["data"]["payment"]["id"]).json["data"]["tax_record"]
    assert (tax["taxable_base"], tax["amount"], tax["total"], tax["prices_include_vat"]) == (
        "5000.00",
        "600.00",
        "5600.00",
        False,
    )
