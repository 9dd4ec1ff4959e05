"""The storm tests can fail: with the row locks removed they catch the damage.

Each test replaces ``lifecycle.lock_payment`` with a plain read and holds every
request at a barrier until all of them have read the pending payment: the worst
interleaving, made certain rather than hoped for. It then runs the same storm as
``test_confirm.py`` and shows that storm's assertions no longer hold.

What still holds without the locks is SQLAlchemy's ``version_id_col``: every
loser's ``UPDATE ... WHERE version = 1`` matches nothing, so the payment is
completed once even here. The locks are what turn the losers' answers into the
right ones (an idempotent 200, a recorded duplicate charge) instead of a bare
stale-version 409.
"""

from __future__ import annotations

import threading

import pytest

from app.payments import lifecycle
from tests.support.lifecycle import events, state
from tests.support.locks import read_payment_without_locking
from tests.support.storm import storm

N = 20


@pytest.fixture
def payment_id(api, factory):
    patient = factory.patient()
    return api.new_payment(patient, factory.consultation(patient).id)


@pytest.fixture
def without_locks(monkeypatch):
    barrier = threading.Barrier(N, timeout=30)
    read_without_locking = read_payment_without_locking(barrier)
    monkeypatch.setattr(lifecycle, "lock_payment", read_without_locking)


def test_without_the_locks_one_transaction_id_storm_no_longer_answers_200_to_all(
    api, app, staff, payment_id, without_locks
):
    responses = storm(N, lambda i: api.confirm(staff, payment_id, transaction_id="txn_storm"))
    statuses = sorted(r.status_code for r in responses)
    # test_confirm.py asserts [200] * 20 here; without the locks that fails:
    assert statuses != [200] * N
    assert statuses == [200] + [409] * (N - 1)
    assert {r.json["type"] for r in responses if r.status_code == 409} == {
        "/problems/stale-version"
    }
    # version_id_col, the second line of defence, still allowed one transition only
    assert state(app, payment_id)["events"].count("confirmed") == 1


def test_without_the_locks_a_storm_of_different_charges_loses_the_duplicate_records(
    api, app, staff, payment_id, without_locks
):
    responses = storm(N, lambda i: api.confirm(staff, payment_id, transaction_id=f"txn_{i}"))
    assert sorted(r.status_code for r in responses) == [200] + [409] * (N - 1)
    # test_confirm.py expects 19 duplicate-charge records for staff to refund; here: none
    assert events(app, payment_id, "duplicate_charge") == []
    assert {r.json["type"] for r in responses if r.status_code == 409} == {
        "/problems/stale-version"
    }
