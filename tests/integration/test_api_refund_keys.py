"""The refund endpoint honours Idempotency-Key as the create endpoint does (PostgreSQL): the
same key and body replay the first answer and refund nothing more; the same key with another
body is a 422; twenty presses at once with one key make one refund."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CreditMemo
from tests.support.api import ApiClient
from tests.support.factory import Factory
from tests.support.storm import storm

BODY = {"reason": "Shortened visit", "amount": "100.00"}


@pytest.fixture
def manager(factory):
    return factory.staff(name="Maria Santos")


@pytest.fixture
def paid(api, factory, manager) -> int:
    """A captured ₱5,000.00 payment's id."""
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient, fee="5000"))
    assert (
        api.confirm(manager, payment_id, transaction_id=f"txn_rk_{payment_id}").status_code == 200
    )
    return payment_id


def refund(api, manager, payment_id, key=None, **body):
    headers = {"Authorization": f"Bearer {manager.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    client = api.app.test_client()
    return client.post(f"/api/v1/payments/{payment_id}/refund", json=body, headers=headers)


def memos(app, payment_id) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(CreditMemo).where(CreditMemo.payment_id == payment_id)
        )
        db.session.rollback()
        return count


def test_the_same_key_and_body_replay_the_first_answer_and_refund_once(app, api, manager, paid):
    first = refund(api, manager, paid, key="rf-1", **BODY)
    again = refund(api, manager, paid, key="rf-1", **BODY)
    assert first.status_code == again.status_code == 200, again.json
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert again.headers["Idempotency-Key-Expires"] == first.headers["Idempotency-Key-Expires"]
    assert memos(app, paid) == 1
    # a new key is a new refund
    assert refund(api, manager, paid, key="rf-2", **BODY).status_code == 200
    assert memos(app, paid) == 2


def test_a_key_in_the_body_is_honoured_as_a_create_honours_it(app, api, manager, paid):
    first = refund(api, manager, paid, idempotency_key="rf-body", **BODY)
    again = refund(api, manager, paid, idempotency_key="rf-body", **BODY)
    assert first.status_code == again.status_code == 200, again.json
    assert again.headers["Idempotent-Replayed"] == "true" and again.data == first.data
    # the same key in the header is the same key
    header = refund(api, manager, paid, key="rf-body", **BODY)
    assert header.headers["Idempotent-Replayed"] == "true"
    assert memos(app, paid) == 1
    # two different keys in one request: refused, nothing refunded
    both = refund(api, manager, paid, key="rf-x", idempotency_key="rf-y", **BODY)
    assert both.status_code == 422 and "idempotency_key" in both.json["errors"]
    assert memos(app, paid) == 1


def test_the_same_key_with_another_body_is_refused_and_refunds_nothing(app, api, manager, paid):
    assert refund(api, manager, paid, key="rf-1", **BODY).status_code == 200
    other = refund(api, manager, paid, key="rf-1", reason="Shortened visit", amount="200.00")
    assert other.status_code == 422
    assert other.json["type"].endswith("/idempotency-key-reused")
    assert memos(app, paid) == 1


def test_a_refused_refund_leaves_its_key_free(app, api, manager, paid):
    too_much = {"reason": "Shortened visit", "amount": "9000.00"}
    for _ in range(2):
        refused = refund(api, manager, paid, key="rf-big", **too_much)
        assert refused.status_code == 409, refused.json
    assert memos(app, paid) == 0


def test_without_a_key_each_request_is_a_refund_of_its_own(app, api, manager, paid):
    assert refund(api, manager, paid, **BODY).status_code == 200
    assert refund(api, manager, paid, **BODY).status_code == 200
    assert memos(app, paid) == 2


def test_a_server_that_requires_keys_refuses_a_refund_without_one(make_app):
    app = make_app(REQUIRE_IDEMPOTENCY_KEY=True)
    factory, api = Factory(app), ApiClient(app)
    manager = factory.staff()
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient), key="create-1")
    assert api.confirm(manager, payment_id, transaction_id="txn_req_1").status_code == 200
    missing = refund(api, manager, payment_id, **BODY)
    assert missing.status_code == 400
    assert missing.json["type"].endswith("/idempotency-key-missing")
    assert memos(app, payment_id) == 0
    assert refund(api, manager, payment_id, key="rf-1", **BODY).status_code == 200


def test_twenty_presses_at_once_with_one_key_make_one_refund(app, api, manager, paid):
    results = storm(20, lambda i: refund(api, manager, paid, key="rf-storm", **BODY))
    statuses = Counter(r.status_code for r in results)
    assert statuses == {200: 20}, statuses
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 19
    assert len({r.data for r in results}) == 1
    assert memos(app, paid) == 1


def test_the_openapi_document_declares_the_key_on_refunds(client):
    operation = client.get("/api/v1/openapi.json").json["paths"][
        "/api/v1/payments/{payment_id}/refund"
    ]["post"]
    names = [p.get("name") for p in operation["parameters"]]
    assert "Idempotency-Key" in names
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
