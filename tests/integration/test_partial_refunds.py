"""Partial refunds: each is a credit memo and a provider request of its own, never more in
total than was captured, even when many arrive at once (real PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ProviderRequest
from app.payments import lifecycle
from tests.support.auth import AuthActions
from tests.support.invariants import check_invariants, serial_runs
from tests.support.lifecycle import state
from tests.support.locks import read_payment_without_locking
from tests.support.storm import storm


@pytest.fixture
def paid_id(api, factory, staff):
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient).id)
    assert api.confirm(staff, payment_id, transaction_id=f"txn_{payment_id}").status_code == 200
    return payment_id


def requests_of(app, payment_id):
    with app.app_context():
        rows = db.session.scalars(
            select(ProviderRequest)
            .where(ProviderRequest.payment_id == payment_id)
            .order_by(ProviderRequest.id)
        ).all()
        return [(str(r.amount), r.state, r.idempotency_key) for r in rows]


def test_a_partial_refund_issues_a_credit_memo_and_keeps_the_invoice_and_its_serial(
    app, api, staff, paid_id
):
    before = api.get(staff, paid_id).json["data"]["invoice"]

    answer = api.refund(staff, paid_id, reason="Shortened visit", amount="1120.00")

    assert answer.status_code == 200
    invoice = answer.json["data"]["invoice"]
    assert (invoice["serial_number"], invoice["status"], invoice["amount"]) == (
        before["serial_number"],
        "paid",
        "5000.00",
    )
    assert invoice["refunded_amount"] == "1120.00"
    [memo] = invoice["credit_memos"]
    assert (memo["serial_number"], memo["amount"], memo["reason"]) == (
        "CM-000001",
        "1120.00",
        "Shortened visit",
    )
    assert answer.json["data"]["payment"]["status"] == "completed"
    assert [r[:2] for r in requests_of(app, paid_id)] == [("1120.00", "pending")]


def test_refunds_up_to_the_capture_then_the_payment_is_refunded_and_nothing_is_left(
    app, api, staff, paid_id
):
    assert api.refund(staff, paid_id, reason="Part", amount="3000").status_code == 200
    too_much = api.refund(staff, paid_id, reason="Rest and more", amount="2000.01")
    assert too_much.status_code == 409
    assert too_much.json["type"].endswith("/invalid-transition")
    assert api.refund(staff, paid_id, reason="The rest").status_code == 200  # all that is left

    after = state(app, paid_id)
    assert (after["status"], after["invoice"], after["tax"]) == ("refunded", "refunded", "reversed")
    requests = requests_of(app, paid_id)
    assert [r[0] for r in requests] == ["3000.00", "2000.00"]
    assert len({r[2] for r in requests}) == 2  # each its own idempotency key
    assert serial_runs(app)[("credit_memo", app.config["CLINIC_BRANCH_CODE"])] == [1, 2]
    again = api.refund(staff, paid_id, reason="Once more", amount="1.00")
    assert again.status_code == 409
    check_invariants(app)


@pytest.mark.parametrize("amount", ["0", "0.00", "-5", "12.345", "1e3", "", " 5", "₱500", 500])
def test_a_malformed_refund_amount_is_a_422_and_changes_nothing(api, app, staff, paid_id, amount):
    answer = api.refund(staff, paid_id, reason="Shortened visit", amount=amount)
    assert answer.status_code == 422
    assert "amount" in answer.json["errors"]
    assert requests_of(app, paid_id) == []


def test_a_refund_posted_with_an_old_version_is_refused(api, app, staff, paid_id):
    version = api.get(staff, paid_id).json["data"]["payment"]["version"]
    first = api.refund(staff, paid_id, reason="Part", amount="100", expected_version=version)
    assert first.status_code == 200
    twice = api.refund(staff, paid_id, reason="Part", amount="100", expected_version=version)
    assert twice.status_code == 409
    assert twice.json["type"].endswith("/stale-version")
    assert len(requests_of(app, paid_id)) == 1


def test_twenty_concurrent_refunds_never_return_more_than_was_captured(app, api, staff, paid_id):
    # given ₱5,000 captured; when twenty staff refund ₱400 each at the same instant
    answers = storm(20, lambda i: api.refund(staff, paid_id, reason=f"Part {i}", amount="400"))

    # then twelve fit (₱4,800), eight are refused, and twelve numbered memos exist
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 12 + [409] * 8
    requests = requests_of(app, paid_id)
    assert [r[0] for r in requests] == ["400.00"] * 12
    assert serial_runs(app)[("credit_memo", app.config["CLINIC_BRANCH_CODE"])] == list(range(1, 13))
    assert state(app, paid_id)["status"] == "completed"  # ₱200 still refundable
    check_invariants(app)


def test_without_the_payment_lock_the_refund_storm_no_longer_queues(
    app, api, staff, paid_id, monkeypatch
):
    # the payment row's lock is what makes concurrent refunds wait for each other
    read_without_locking = read_payment_without_locking(threading.Barrier(20, timeout=30))
    monkeypatch.setattr(lifecycle, "lock_payment", read_without_locking)
    answers = storm(20, lambda i: api.refund(staff, paid_id, reason=f"Part {i}", amount="400"))

    # each read ₱5,000 refundable; the version check (version_id_col) lets one win and
    # turns the rest into stale-version errors instead of twelve orderly refunds
    statuses = sorted(a.status_code for a in answers)
    assert statuses != [200] * 12 + [409] * 8
    assert statuses.count(200) < 12


def test_the_staff_list_shows_what_was_paid_and_what_was_refunded(app, api, staff, paid_id):
    client = AuthActions(app).client_for(staff)

    def row() -> str:
        html = client.get("/staff/invoices").text
        return html.split('<tr data-invoice-number="', 1)[1].split("</tr>", 1)[0]

    assert "refunded-amount" not in row()
    assert api.refund(staff, paid_id, reason="Part", amount="1120").status_code == 200
    partly = row()
    assert '<span class="amount">₱5,000.00</span>' in partly
    assert "Refunded −₱1,120.00" in partly
    assert api.refund(staff, paid_id, reason="The rest").status_code == 200
    whole = row()
    assert "Refunded −₱5,000.00" in whole and '<span class="amount">₱5,000.00</span>' in whole
    # the paid time stays: it was paid, then refunded
    paid_cell = whole.split('data-label="Paid">', 1)[1]
    assert paid_cell.startswith("<time")
