"""Sales invoice and credit memo serials stay one unbroken run on real PostgreSQL.

Storms of captures (with declines, cancels, late successes, captures rolled back after
their serial was taken, and worker processes killed while holding the counter lock),
then storms of partial refunds: afterwards every branch's serials are 1..N with no gap and
no duplicate (``tests/support/invariants.check_serials``). The last tests remove the
counter lock and show the damage it prevents, and show why a SEQUENCE would not do.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Payment, SerialCounter, SerialSeries
from app.payments import hooks, lifecycle, serials
from app.payments.errors import DuplicateCharge
from tests.support.invariants import check_invariants, gaps_and_duplicates, serial_runs

ROOT = Path(__file__).resolve().parents[2]
ACTOR = "gateway:sandbox"
CONSULTATIONS = 50
KILLED = 5  # consultations whose first capture runs in a worker process that is killed


class CrashAfterSerial(RuntimeError):
    """Raised inside a capture's transaction once its serial is taken: the transaction
    rolls back as on a deadlock or a crash between the serial and the commit."""


class Crashes:
    """Make the next capture of chosen payments fail after its serial is taken."""

    def __init__(self) -> None:
        self.payments: set[int] = set()
        self.current = threading.local()

    def arm(self, payment_id: int) -> None:
        self.payments.add(payment_id)

    def reached(self, **_context) -> None:
        payment_id = getattr(self.current, "payment_id", None)
        if payment_id in self.payments:
            self.payments.discard(payment_id)
            raise CrashAfterSerial(payment_id)

    def confirm(self, payment_id: int, transaction_id: str):
        self.current.payment_id = payment_id
        try:
            return lifecycle.confirm(payment_id, transaction_id=transaction_id, actor=ACTOR)
        finally:
            self.current.payment_id = None


def capture_report(crashes: Crashes, payment_id: int, transaction_id: str, log: list[str]):
    """One success report from the provider; its outcome is appended to ``log``."""
    try:
        done = crashes.confirm(payment_id, transaction_id)
        log.append("captured" if done.changed else "repeat")
    except CrashAfterSerial:
        log.append("rolled back")
    except DuplicateCharge:
        log.append("duplicate charge")


def killed_capture(database_url: str, payment_id: int) -> None:
    """Capture ``payment_id`` in a separate worker process and SIGKILL it once it holds the
    serial counter's lock, its serial taken but not committed."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDING_WORKER, database_url, str(payment_id)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = child.stdout.readline()  # "holding", or "" if the worker ended first
        assert line.strip() == "holding", (line, child.wait(timeout=20))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


# Runs in the worker process: the capture stops right after its serial is taken.
_HOLDING_WORKER = """
import sys, time
from tests.conftest import base_config
from app import create_app
from app.payments import hooks, lifecycle

url, payment_id = sys.argv[1], int(sys.argv[2])
app = create_app(base_config(url, None))

def hold(**_):
    print("holding", flush=True)
    time.sleep(600)

with app.app_context(), hooks.run_at(hooks.SERIAL_TAKEN, hold):
    lifecycle.confirm(payment_id, transaction_id=f"txn_killed_{payment_id}", actor="gateway:t")
"""


def life_of_a_consultation(app, api, crashes, patient, consultation_id, seed, database_url):
    """A consultation's payments: a declined one, a cancelled one, then a sale made either
    by a capture that first rolls back (or dies with its worker) and is retried, or by a
    late success on a cancelled payment; late successes on the others and repeats around
    it. Returns the capture reports' outcomes (four per consultation)."""
    rng = random.Random(seed)
    log: list[str] = []
    declined = api.new_payment(patient, consultation_id)
    with app.app_context():
        lifecycle.fail(declined, reason="Declined by the bank", actor=ACTOR)
    cancelled = api.new_payment(patient, consultation_id)
    with app.app_context():
        lifecycle.cancel(cancelled, user=patient)
    final = api.new_payment(patient, consultation_id)
    with app.app_context():
        if seed < KILLED:
            killed_capture(database_url, final)
            log.append("killed")
        elif rng.random() < 0.5:
            crashes.arm(final)
            capture_report(crashes, final, f"txn_{final}", log)
        else:
            lifecycle.cancel(final, user=patient)
            log.append("cancelled")
        late = [(pid, f"txn_{pid}") for pid in (final, declined, cancelled)]
        rng.shuffle(late)  # the retry and late successes on the others, in any order
        for payment_id, transaction_id in late:
            capture_report(crashes, payment_id, transaction_id, log)
        capture_report(crashes, final, f"txn_{final}", log)  # the provider repeats itself
    return log


@pytest.fixture
def crashes():
    crashes = Crashes()
    with hooks.run_at(hooks.SERIAL_TAKEN, crashes.reached):
        yield crashes


def test_captures_with_declines_cancels_late_successes_rollbacks_and_killed_workers_leave_one_run(
    app, api, factory, staff, crashes, database_url
):
    # given fifty consultations of fifty patients
    patients = [factory.patient() for _ in range(CONSULTATIONS)]
    consultations = [factory.consultation(p).id for p in patients]

    # when each lives its payments at once with the others (16 threads)
    with ThreadPoolExecutor(max_workers=16) as pool:
        logs = list(
            pool.map(
                lambda i: life_of_a_consultation(
                    app, api, crashes, patients[i], consultations[i], i, database_url
                ),
                range(CONSULTATIONS),
            )
        )

    # then each consultation made exactly one sale, and the sales are serials 1..50
    outcomes = [outcome for log in logs for outcome in log]
    reports = len(outcomes) - outcomes.count("cancelled")
    assert reports >= 200
    invoices = serial_runs(app)[("invoice", app.config["CLINIC_BRANCH_CODE"])]
    assert invoices == list(range(1, CONSULTATIONS + 1))
    assert gaps_and_duplicates(invoices) == ([], [])
    assert outcomes.count("rolled back") > 0 and outcomes.count("killed") == KILLED
    assert outcomes.count("duplicate charge") > 0 and outcomes.count("repeat") > 0
    print(
        f"\nserial storm: {reports} capture reports on {3 * CONSULTATIONS} payments across "
        f"{CONSULTATIONS} consultations ({outcomes.count('rolled back')} rolled back after "
        f"taking a serial, {outcomes.count('killed')} in killed workers, "
        f"{outcomes.count('duplicate charge')} late successes kept as duplicate charges, "
        f"{outcomes.count('repeat')} repeats); {len(invoices)} sales, serials "
        f"{invoices[0]}..{invoices[-1]}, (gaps, duplicates) = {gaps_and_duplicates(invoices)}"
    )

    # when staff refund parts of them at once, some asking more than is left
    sales = _sales(app)
    plans = [(pid, amount) for pid in sales for amount in ("1500.00", "2000.00", "2500.00")]
    random.Random(7).shuffle(plans)
    answers = _in_threads(
        lambda plan: api.refund(staff, plan[0], reason="Shortened visit", amount=plan[1]),
        plans,
    )

    # then the credit memos are one run too, and no payment gave back more than it took
    memos = serial_runs(app)[("credit_memo", app.config["CLINIC_BRANCH_CODE"])]
    statuses = [answer.status_code for answer in answers]
    assert memos == list(range(1, statuses.count(200) + 1))
    assert statuses.count(200) == 2 * len(sales)  # 1500 + 2000 fit in 5000; 2500 after 1500
    check_invariants(app)
    print(
        f"credit memo storm: {len(plans)} refunds asked, {statuses.count(200)} memos "
        f"{memos[0]}..{memos[-1]}, {statuses.count(409)} refused as more than is left, "
        f"(gaps, duplicates) = {gaps_and_duplicates(memos)}"
    )


def test_two_hundred_captures_of_two_hundred_sales_at_once_are_serials_1_to_200(
    app, api, factory, crashes
):
    # given 200 pending payments (four consultations each for fifty patients)
    payments = []
    for _ in range(50):
        patient = factory.patient()
        payments += [api.new_payment(patient, factory.consultation(patient).id) for _ in range(4)]
    for payment_id in payments[::7]:
        crashes.arm(payment_id)  # their first capture rolls back after taking a serial

    # when every one is captured at once, each rolled-back one retried as a provider would
    def capture(payment_id):
        with app.app_context():
            log: list[str] = []
            while "captured" not in log:
                capture_report(crashes, payment_id, f"txn_{payment_id}", log)
            return log

    logs = _in_threads(capture, payments, workers=20)

    # then the 200 sales hold serials 1..200
    invoices = serial_runs(app)[("invoice", app.config["CLINIC_BRANCH_CODE"])]
    assert invoices == list(range(1, 201))
    assert sum(log.count("rolled back") for log in logs) == len(payments[::7])
    check_invariants(app)


# --- the guard, removed ------------------------------------------------------------------


def _unlocked(barrier: threading.Barrier):
    """``serials.lock_counter`` without FOR UPDATE, every caller held until all have read."""

    def read_without_locking(session, series, branch_code):
        last = session.execute(
            select(SerialCounter.last_serial).where(
                SerialCounter.series == series.value, SerialCounter.branch_code == branch_code
            )
        ).scalar_one()
        barrier.wait()
        return last

    return read_without_locking


def test_without_the_counter_lock_concurrent_captures_take_the_same_serial(
    app, api, factory, monkeypatch
):
    # given the unique (branch, serial) index dropped, so only the lock stands
    with app.app_context():
        db.session.execute(text("ALTER TABLE invoices DROP CONSTRAINT uq_invoices_branch_serial"))
        db.session.commit()
    payments = [api.new_payment(p, factory.consultation(p).id) for p in _patients(factory, 8)]
    monkeypatch.setattr(serials, "lock_counter", _unlocked(threading.Barrier(len(payments))))

    # when eight captures run at once
    _in_threads(lambda pid: _confirm_in_app(app, pid), payments, workers=len(payments))

    # then they share serials: a duplicate the lock would have prevented
    invoices = serial_runs(app)[("invoice", app.config["CLINIC_BRANCH_CODE"])]
    assert len(invoices) == len(payments)
    assert gaps_and_duplicates(invoices)[1] != []


def test_without_the_counter_lock_the_unique_index_refuses_the_captures_that_collide(
    app, api, factory, monkeypatch
):
    payments = [api.new_payment(p, factory.consultation(p).id) for p in _patients(factory, 8)]
    monkeypatch.setattr(serials, "lock_counter", _unlocked(threading.Barrier(len(payments))))

    results = _in_threads(lambda pid: _confirm_in_app(app, pid), payments, workers=len(payments))

    # the index is the last line: serials stay unique, but seven sales failed to record
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == len(payments) - 1, results
    assert serial_runs(app)[("invoice", app.config["CLINIC_BRANCH_CODE"])] == [1]


def test_a_sequence_would_skip_the_number_of_a_rolled_back_capture(app):
    # why not nextval(): a rolled-back transaction does not give its number back
    with app.app_context():
        db.session.execute(text("CREATE SEQUENCE demo_serial"))
        db.session.commit()
        db.session.execute(text("SELECT nextval('demo_serial')"))
        db.session.rollback()
        assert db.session.execute(text("SELECT nextval('demo_serial')")).scalar_one() == 2
        db.session.rollback()


def test_a_rolled_back_capture_gives_its_serial_back(app, api, factory, crashes):
    patient = factory.patient()
    first, second = (api.new_payment(patient, factory.consultation(patient).id) for _ in "12")
    crashes.arm(first)
    with app.app_context():
        capture_report(crashes, first, "txn_first", log := [])
        capture_report(crashes, second, "txn_second", log)
        serial = db.session.scalar(select(Payment).where(Payment.id == second)).invoice.serial
    assert log == ["rolled back", "captured"]
    assert serial == 1


def test_the_counter_starts_at_one_for_a_new_branch_and_prints_six_digits(app):
    with app.app_context():
        a = serials.next_serial(db.session, SerialSeries.CREDIT_MEMO, "00042")
        b = serials.next_serial(db.session, SerialSeries.CREDIT_MEMO, "00042")
        db.session.rollback()
    assert (a, b) == (1, 2)
    assert serials.printed("CM-", 42) == "CM-000042"
    assert serials.printed("", 1234567) == "1234567"


# --- helpers ------------------------------------------------------------------------------


def _patients(factory, n):
    return [factory.patient() for _ in range(n)]


def _confirm_in_app(app, payment_id):
    with app.app_context():
        try:
            return lifecycle.confirm(payment_id, transaction_id=f"txn_{payment_id}", actor=ACTOR)
        except Exception as exc:  # noqa: BLE001 - the test counts what was refused
            return exc


def _in_threads(call, items, *, workers: int = 16):
    """``call(item)`` for each item on ``workers`` threads; when there are no more items than
    threads, all are released together by a barrier."""
    together = len(items) <= workers
    barrier = threading.Barrier(len(items)) if together else None

    def run(item):
        if barrier is not None:
            barrier.wait()
        return call(item)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, items))


def _sales(app) -> list[int]:
    with app.app_context():
        ids = db.session.scalars(
            select(Payment.id).where(Payment.status == "completed").order_by(Payment.id)
        ).all()
        db.session.rollback()
    return list(ids)
