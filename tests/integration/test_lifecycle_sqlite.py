"""The lifecycle on the embedded default of ``make dev``: SQLite, no Redis server."""

from __future__ import annotations

from app.discounts.cards import parse_card, record_card
from app.extensions import db
from app.models import Payment
from app.payments import lifecycle
from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory
from tests.support.lifecycle import age_payment, deliver, provider_event, state
from tests.support.outbox import ledger, requests_of


def test_sandbox_approval_webhooks_refund_and_expiry_work_on_sqlite(sqlite_app):
    # given the demo setup
    app, factory = sqlite_app, Factory(sqlite_app)
    api = ApiClient(app)
    client = app.test_client()
    patient, staff = factory.patient(), factory.staff()
    paid = api.new_payment(patient, factory.consultation(patient).id)
    abandoned = api.new_payment(patient, factory.consultation(patient).id)
    # when the patient approves twice at the sandbox provider
    client.post("/login", data={"email": patient.email, "password": PASSWORD})
    client.post(f"/gateway/sandbox/{paid}", data={"approve_twice": "Approve twice"})
    # then it is paid once, and a repeated webhook changes nothing
    assert state(app, paid)["events"] == ["created", "confirmed"]
    again = deliver(client, app, provider_event(paid, transaction_id=f"sbx_txn_{paid}"))
    assert again.json["outcome"] == "unchanged"
    # refunds and expiry work too
    assert api.refund(staff, paid, reason="Test").status_code == 200
    assert state(app, paid)["tax"] == "reversed"
    # and the refund reaches the sandbox provider once, through the outbox
    for _ in range(2):
        sent = app.test_cli_runner().invoke(args=["payments", "send-outbox"])
        assert sent.exit_code == 0, sent.output
    assert [r["state"] for r in requests_of(app, paid)] == ["succeeded"]
    assert [r["calls"] for r in ledger(app, paid)] == [1]
    age_payment(app, abandoned, 31 * 60)
    with app.app_context():
        assert lifecycle.expire_stale() == 1
    assert state(app, abandoned)["invoice"] == "void"


def test_a_discounted_payment_below_the_old_floor_is_made_on_the_migrated_file(sqlite_app):
    # given the demo's SQLite file, migrated from empty as `make dev` does, and a PWD card
    app, factory = sqlite_app, Factory(sqlite_app)
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="1000")
    with app.app_context():
        card = parse_card("pwd", "PWD-2026-0001", patient.name)
        record_card(patient.email, card, actor="cli")
    # when the patient pays ₱714.29 (₱1,000 less VAT and 20%), below the old ₱1,000 floor
    payment_id = ApiClient(app).new_payment(patient, consultation.id)
    # then the payment is made at the discounted amount
    assert state(app, payment_id)["status"] == "pending"
    with app.app_context():
        assert str(db.session.get(Payment, payment_id).amount) == "714.29"
        db.session.rollback()
