"""The refund outbox under faults: a killed worker, racing workers, a refund racing a late success.

Each guarantee is shown to depend on its guard: without the provider's idempotency
key the killed worker refunds twice; without SKIP LOCKED and the lease, racing
workers call the provider more than once for a row.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from app.db import transaction
from app.gateway import webhooks
from app.gateway.provider import current_gateway
from app.gateway.sandbox import SandboxGateway
from app.models import Payment, ProviderRequest, utcnow
from app.payments import lifecycle, refund_worker
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import (
    age_payment,
    events,
    provider_event,
    signed_headers,
    state,
)
from tests.support.outbox import ledger, paid_payment, refund_now, requests_of, worker_process
from tests.support.pg import _poll as poll

# --- a worker killed after the provider acted, before it recorded the answer -------------------


@pytest.mark.parametrize(
    ("keys_honoured", "refunds_at_provider"),
    [("1", 1), ("0", 2)],
    ids=["with-idempotency-key", "sensitivity-provider-ignores-the-key"],
)
def test_a_worker_killed_mid_call_and_restarted_refunds_once(
    app, factory, database_url, keys_honoured, refunds_at_provider
):
    # given a refund waiting in the outbox
    payment_id = paid_payment(app, factory)
    refund_now(app, payment_id)
    env = {"OUTBOX_LEASE_SECONDS": "1", "SANDBOX_HONOUR_IDEMPOTENCY_KEYS": keys_honoured}
    # when a worker's call reaches the provider, which refunds and then hangs,
    worker = worker_process(
        database_url, SANDBOX_REFUND_FAULT="hang_after", SANDBOX_REFUND_HANG_SECONDS="60", **env
    )
    try:
        poll("the provider to refund", lambda: ledger(app), 30)
        # and the worker is killed before it hears back (no cleanup, no rollback handler)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    [request] = requests_of(app)
    assert request["state"] == "pending" and request["attempts"] == 1
    assert request["leased_until"] is not None  # the dead worker's lease
    # then a restarted worker, once the lease ran out, sends it again with the same key
    poll("the lease to run out", lambda: requests_of(app)[0]["leased_until"] < utcnow(), 30)
    again = worker_process(database_url, **env)
    output, _ = again.communicate(timeout=60)
    assert again.returncode == 0, output
    assert "Sent 1 refund to the provider" in output
    [request] = requests_of(app)
    assert request["state"] == "succeeded" and request["attempts"] == 2
    refunds = ledger(app)
    print(f"killed worker, keys honoured={keys_honoured}: {len(refunds)} refunds at the provider")
    assert len(refunds) == refunds_at_provider, refunds
    if keys_honoured == "1":
        assert refunds[0]["calls"] == 2  # asked twice, refunded once
    check_payment_states(app)


# --- several workers at once ------------------------------------------------------------------


class CountingGateway(SandboxGateway):
    """The sandbox, counting calls per key and slowed down so workers overlap."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def refund(self, payment, amount, idempotency_key):
        with self._lock:
            self.calls.append((idempotency_key, threading.current_thread().name))
        time.sleep(0.03)
        return super().refund(payment, amount, idempotency_key)


def unguarded_claim() -> refund_worker.Claim | None:
    """``claim_next`` without FOR UPDATE SKIP LOCKED and without the lease: the bug to catch."""
    with transaction() as session:
        request = session.scalars(
            select(ProviderRequest)
            .where(ProviderRequest.state == "pending")
            .order_by(ProviderRequest.id)
            .limit(1)
            .execution_options(populate_existing=True)
        ).first()
        if request is None:
            return None
        payment = session.get(Payment, request.payment_id)
        time.sleep(0.01)
        claim = refund_worker.Claim(
            request.id, payment.id, payment, request.amount, request.idempotency_key, "-", 1
        )
        session.expunge(payment)
    return claim


@pytest.mark.parametrize("guarded", [True, False], ids=["skip-locked-and-lease", "sensitivity"])
def test_workers_racing_on_the_same_rows_call_the_provider_once_per_row(
    app, factory, monkeypatch, guarded
):
    rows, workers = 10, 4
    for _ in range(rows):
        refund_now(app, paid_payment(app, factory))
    if not guarded:
        monkeypatch.setattr(refund_worker, "claim_next", unguarded_claim)
    gateway = CountingGateway(app.config["GATEWAY_WEBHOOK_SECRET"])
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work():
        try:
            with app.app_context():
                start.wait(10)
                refund_worker.send_pending(gateway)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, name=f"worker-{i}") for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    per_row = Counter(key for key, _ in gateway.calls)
    print(
        f"{workers} workers, {rows} rows, guarded={guarded}: {len(gateway.calls)} provider calls, "
        f"by {len({w for _, w in gateway.calls})} workers, most for one row {max(per_row.values())}"
    )
    assert len(per_row) == rows  # every row was sent
    assert all(r["state"] == "succeeded" for r in requests_of(app))
    assert len(ledger(app)) == rows  # the key keeps the provider's refunds right either way
    if guarded:
        assert max(per_row.values()) == 1, per_row
        assert len({worker for _, worker in gateway.calls}) > 1  # the workers really shared
    else:
        assert max(per_row.values()) > 1, per_row  # the race the guard prevents


# --- the --forever loop -----------------------------------------------------------------------


def test_send_outbox_forever_sends_new_refunds_and_stops_on_sigterm(app, factory, database_url):
    worker = worker_process(database_url, "--forever", "--interval", "0.2")
    try:
        payment_id = paid_payment(app, factory)
        refund_now(app, payment_id)
        poll("the refund to be sent", lambda: requests_of(app)[0]["state"] == "succeeded", 30)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == 0, output
    assert "Sent 1 refund to the provider" in output and "Stopped." in output
    assert len(ledger(app, payment_id)) == 1


# --- a refund racing a late provider success ------------------------------------------------


def expired_then_paid_again(app, api, factory) -> tuple[int, int]:
    """P1 abandoned and expired; P2 for the same consultation paid. Returns (P1, P2)."""
    patient, staff = factory.patient(), factory.staff()
    consultation = factory.consultation(patient)
    first = api.new_payment(patient, consultation.id)
    age_payment(app, first, app.config["PAYMENT_PENDING_TTL"] + 60)
    with app.app_context():
        assert lifecycle.expire_stale() == 1
    second = api.new_payment(patient, consultation.id)
    assert api.confirm(staff, second, transaction_id=f"sbx_txn_{second}").status_code == 200
    return first, second


def late_success(app, payment_id: int):
    body = provider_event(
        payment_id, event_id=f"evt_late_{payment_id}", transaction_id=f"sbx_txn_{payment_id}"
    )
    with app.app_context():
        return webhooks.receive(body, signed_headers(app, body), gateway=current_gateway())


def money_kept(app, late: int, refunded: int) -> str:
    """Assert the money-truth rule; return which way it went."""
    first, second = state(app, late), state(app, refunded)
    assert second["status"] == "refunded"
    assert len(requests_of(app, refunded)) == 1
    if first["status"] == "completed":
        assert first["transaction_id"] == f"sbx_txn_{late}"
        return "late success applied"
    flagged = events(app, late, "duplicate_charge")
    assert [e["transaction_id"] for e in flagged] == [f"sbx_txn_{late}"], first
    return "flagged as duplicate charge"


@pytest.mark.parametrize("refund_first", [True, False], ids=["refund-first", "success-first"])
def test_a_refund_and_a_late_success_in_either_order_lose_no_money(app, api, factory, refund_first):
    late, paid = expired_then_paid_again(app, api, factory)
    steps = [lambda: refund_now(app, paid), lambda: late_success(app, late)]
    for step in steps if refund_first else reversed(steps):
        step()
    # Either way the late charge cannot be kept: after the refund the consultation is closed
    # for payment, before it the other payment is the active one. Staff refund it by hand.
    assert money_kept(app, late, paid) == "flagged as duplicate charge"
    with app.app_context():
        refund_worker.send_pending(current_gateway())
    assert len(ledger(app, paid)) == 1 and ledger(app, late) == []
    check_payment_states(app)


def test_a_refund_racing_a_late_success_loses_no_money(app, api, factory):
    rounds = 6
    pairs = [expired_then_paid_again(app, api, factory) for _ in range(rounds)]
    errors: list[BaseException] = []

    def run(step, barrier):
        try:
            barrier.wait(10)
            step()
        except BaseException as exc:
            errors.append(exc)

    for late, paid in pairs:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=run, args=(lambda p=paid: refund_now(app, p), barrier)),
            threading.Thread(target=run, args=(lambda p=late: late_success(app, p), barrier)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors, errors
    outcomes = Counter(money_kept(app, late, paid) for late, paid in pairs)
    # Whichever commits first, the late charge meets an active or a refunded payment.
    assert outcomes == {"flagged as duplicate charge": rounds}
    with app.app_context():
        refund_worker.send_pending(current_gateway())
    assert len(ledger(app)) == rounds  # one refund per refunded payment, none for the late ones
    check_payment_states(app)
