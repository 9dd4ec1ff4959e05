"""Each step of ``create_payment`` tested on its own, on every path that reaches it.

These began as the survivors of a mutation run (issue 20): bugs that left every
other test green because another layer caught the damage first. Each test here
takes the other layer away (Redis flushed or down, the partial index dropped, a
second patient with the same key string) so the step it names is the only thing
that can make it pass. ``make mutate`` (mutate/mutants.py) re-checks that each
one still fails when its step is removed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis as redis_lib
from sqlalchemy import text

from app.extensions import db
from app.models import utcnow
from app.payments import hooks
from app.payments.guards import GUARD_NAMES
from app.payments.lifecycle import confirm, expire_stale
from tests.support.api import ApiClient
from tests.support.auth import AuthActions
from tests.support.checkout import open_form, submit
from tests.support.factory import Factory
from tests.support.invariants import check_invariants, row_counts
from tests.support.lifecycle import age_payment, deliver, events, provider_event
from tests.support.pg import raw_connection, wait_for_lock_waiter
from tests.support.services import free_port
from tests.support.storm import storm

N = 50
ROW_LOCKING_GUARDS = ("hybrid", "pessimistic")


def flush(redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushall()
    client.close()


def drop_active_payment_index(app) -> None:
    with app.app_context():
        db.session.execute(text("DROP INDEX uq_payments_one_active_per_consultation"))
        db.session.commit()


def patient_app(make_app, **config):
    """An app with ``config``, a patient and their consultation (fee 5,000)."""
    app = make_app(**config)
    factory = Factory(app)
    patient = factory.patient()
    return app, patient, factory.consultation(patient)


def payment_of(response) -> dict:
    assert response.status_code in (200, 201), (response.status_code, response.get_json())
    return response.get_json()["data"]["payment"]


# --- 1. the consultation row lock, on its own ---------------------------------------------


@pytest.mark.parametrize("guard", ROW_LOCKING_GUARDS)
def test_the_row_lock_alone_serializes_fifty_checkouts(make_app, race, guard):
    """The index is dropped, so only ``SELECT ... FOR UPDATE`` keeps the second payment out.

    Every request is held right after its claim until all 50 have claimed their
    keys: without the lock they look for an active payment together and find none.
    """
    app, patient, consultation = patient_app(make_app, PAYMENT_GUARD=guard)
    drop_active_payment_index(app)
    everyone_claimed = threading.Barrier(N, timeout=30)
    race.at(hooks.AFTER_CLAIM, lambda **_: everyone_claimed.wait())
    api = ApiClient(app)

    responses = storm(N, lambda i: api.pay(patient, consultation, key=f"lock-{i}"))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: N - 1}, statuses
    winner = next(r.get_json() for r in responses if r.status_code == 201)
    named = {r.get_json()["existing_payment_id"] for r in responses if r.status_code == 409}
    assert named == {winner["data"]["payment"]["id"]}
    assert check_invariants(app)["payments"] == 1


def test_the_redis_lock_alone_serializes_fifty_checkouts(make_app, race):
    """The redis_lock guard with the index dropped: only the Redis lock keeps a second payment out.

    The first two requests to claim a key wait for each other (half a second at most):
    under the lock the second never comes, so the first goes on alone; without it
    both look for an active payment together and find none.
    """
    app, patient, consultation = patient_app(
        make_app, PAYMENT_GUARD="redis_lock", PAYMENT_LOCK_TIMEOUT_MS=20000
    )
    drop_active_payment_index(app)
    first_two = threading.Barrier(2, timeout=0.5)

    def meet(**_):
        with contextlib.suppress(threading.BrokenBarrierError):  # alone, as under the lock
            first_two.wait()

    race.at(hooks.AFTER_CLAIM, meet)
    api = ApiClient(app)

    responses = storm(N, lambda i: api.pay(patient, consultation, key=f"redis-lock-{i}"))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: N - 1}, statuses
    assert check_invariants(app)["payments"] == 1


# --- 2. the fingerprint, compared on the database path --------------------------------------


def _reuse_with_another_payload(make_app, redis_url, **config):
    app, patient, consultation = patient_app(make_app, **config)
    api = ApiClient(app)
    first = api.pay(patient, consultation, key="reused", method="gcash")
    assert first.status_code == 201
    if redis_url:
        flush(redis_url)
    before = row_counts(app)
    again = api.pay(patient, consultation, key="reused", method="stripe")
    return app, again, before


@pytest.mark.parametrize("guard", GUARD_NAMES)
def test_a_reused_key_with_redis_flushed_is_refused_by_the_database(make_app, redis_url, guard):
    app, again, before = _reuse_with_another_payload(make_app, redis_url, PAYMENT_GUARD=guard)
    assert again.status_code == 422, again.get_json()
    assert again.get_json()["type"] == "/problems/idempotency-key-reused"
    assert "Idempotent-Replayed" not in again.headers
    assert row_counts(app) == before


@pytest.mark.parametrize("guard", GUARD_NAMES)
def test_a_reused_key_with_redis_down_is_refused_by_the_database(make_app, guard):
    down = f"redis://127.0.0.1:{free_port()}/0"
    app, again, before = _reuse_with_another_payload(
        make_app, None, PAYMENT_GUARD=guard, REDIS_URL=down
    )
    assert again.status_code == 422, again.get_json()
    assert again.get_json()["type"] == "/problems/idempotency-key-reused"
    assert row_counts(app) == before


# --- 3. one key string, two patients -------------------------------------------------------


@pytest.fixture
def two_patients(make_app, request):
    app = make_app(PAYMENT_GUARD=request.param)
    factory = Factory(app)
    a, b = factory.patient(), factory.patient()
    return app, (a, factory.consultation(a)), (b, factory.consultation(b, fee="1500"))


def _own(app, user, consultation, response) -> None:
    """The answer shows ``user``'s own payment for their own consultation, nobody else's."""
    payment = payment_of(response)
    assert payment["consultation_id"] == consultation.id
    with app.app_context():
        owner = db.session.execute(
            text("SELECT user_id FROM payments WHERE id = :p"), {"p": payment["id"]}
        ).scalar_one()
        db.session.rollback()
    assert owner == user.id


@pytest.mark.parametrize("two_patients", GUARD_NAMES, indirect=True)
@pytest.mark.parametrize("flush_between", [False, True], ids=["redis-hit", "after-flushall"])
def test_one_key_string_for_two_patients_answers_each_their_own(
    two_patients, redis_url, flush_between
):
    app, (a, a_consultation), (b, b_consultation) = two_patients
    api = ApiClient(app)
    first_a = api.pay(a, a_consultation, key="shared-key")
    first_b = api.pay(b, b_consultation, key="shared-key")
    assert first_a.status_code == first_b.status_code == 201
    if flush_between:
        flush(redis_url)
    for user, consultation, first in ((a, a_consultation, first_a), (b, b_consultation, first_b)):
        again = api.pay(user, consultation, key="shared-key")
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.get_json() == first.get_json()
        _own(app, user, consultation, again)
    assert check_invariants(app)["payments"] == 2


@pytest.mark.parametrize("two_patients", GUARD_NAMES, indirect=True)
def test_concurrent_first_requests_with_one_key_string_stay_apart(two_patients, redis_url):
    app, (a, a_consultation), (b, b_consultation) = two_patients
    api = ApiClient(app)
    n = 20
    callers = [(a, a_consultation), (b, b_consultation)] * (n // 2)
    responses = storm(n, lambda i: api.pay(*callers[i], key="shared-key"))
    flush(redis_url)
    for (user, consultation), response in zip(callers, responses, strict=True):
        assert response.status_code == 201, response.get_json()
        _own(app, user, consultation, response)
    for user, consultation in ((a, a_consultation), (b, b_consultation)):
        answers = [r.get_json() for (u, _), r in zip(callers, responses, strict=True) if u is user]
        again = api.pay(user, consultation, key="shared-key")
        assert all(answer == answers[0] for answer in answers)
        assert again.get_json() == answers[0]
    assert check_invariants(app)["payments"] == 2


# --- 4. a new payment on a completed consultation ----------------------------------------


def _completed_payment(app, patient, consultation) -> int:
    payment_id = payment_of(ApiClient(app).pay(patient, consultation, key="first"))["id"]
    with app.app_context():
        confirm(payment_id, transaction_id="txn_completed", actor="gateway:test")
    return payment_id


@pytest.mark.parametrize("guard", GUARD_NAMES)
def test_paying_again_for_a_completed_consultation_names_the_completed_payment(make_app, guard):
    app, patient, consultation = patient_app(make_app, PAYMENT_GUARD=guard)
    paid = _completed_payment(app, patient, consultation)

    again = ApiClient(app).pay(patient, consultation, key="second")

    assert again.status_code == 409, again.get_json()
    assert again.get_json()["existing_payment_id"] == paid
    assert again.get_json()["existing_payment_status"] == "completed"
    assert check_invariants(app)["payments"] == 1


@pytest.mark.parametrize("guard", ROW_LOCKING_GUARDS)
def test_a_payment_completed_while_a_checkout_waits_for_the_lock_is_named(make_app, race, guard):
    """The early read saw nothing; a payment is made and completed before this checkout
    takes the lock. With the index dropped, only the re-check under the lock refuses."""
    app, patient, consultation = patient_app(make_app, PAYMENT_GUARD=guard)
    drop_active_payment_index(app)
    competing: list[int] = []

    def pay_and_complete_first(**context):
        if not competing:  # this checkout's own turn; the competing one passes straight on
            competing.append(0)
            with ThreadPoolExecutor(1) as other:
                competing[0] = other.submit(_completed_payment, app, patient, consultation).result(
                    timeout=30
                )

    race.at(hooks.BEFORE_LOCK, pay_and_complete_first)
    late = ApiClient(app).pay(patient, consultation, key="late")

    assert late.status_code == 409, late.get_json()
    assert late.get_json()["existing_payment_id"] == competing[0]
    assert late.get_json()["existing_payment_status"] == "completed"
    assert check_invariants(app)["payments"] == 1


def test_the_form_on_a_completed_consultation_goes_to_the_completed_payment(app, factory):
    patient = factory.patient()
    consultation = factory.consultation(patient)
    browser = AuthActions(app).session_for(patient)
    fields = open_form(browser, consultation)  # a second tab, opened before the payment
    paid = _completed_payment(app, patient, consultation)

    response = submit(browser, consultation, fields, method="gcash")

    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/payments/{paid}")
    assert check_invariants(app)["payments"] == 1


# --- the Redis copy and key expiry ---------------------------------------------------------


def test_a_repeat_is_answered_from_redis_and_after_a_flush_from_the_database(
    app, api, patient, consultation, redis_url, caplog
):
    caplog.set_level(logging.INFO, logger="app.payments")
    api.pay(patient, consultation, key="k1")
    api.pay(patient, consultation, key="k1")
    flush(redis_url)
    api.pay(patient, consultation, key="k1")
    # a repeat writes no event of its own: its outcome line says where it was answered from
    lines = [r.getMessage() for r in caplog.records if "outcome=replayed" in r.getMessage()]
    assert [line.split("source=")[1].split()[0] for line in lines] == ["redis", "database"]


def test_the_redis_copy_of_a_key_expires_with_the_key(app, api, patient, consultation, redis_url):
    api.pay(patient, consultation, key="k1")
    client = redis_lib.Redis.from_url(redis_url)
    [cached] = client.keys("idem:*")
    assert 0 < client.ttl(cached) <= app.config["IDEMPOTENCY_TTL"]
    client.close()


def test_an_expired_key_taken_over_replays_its_new_request(
    app, api, factory, patient, consultation, redis_url
):
    api.pay(patient, consultation, key="k1", method="gcash")
    with app.app_context():
        db.session.execute(text("UPDATE idempotency_keys SET expires_at = :t"), {"t": utcnow()})
        db.session.commit()
    flush(redis_url)
    other = factory.consultation(patient, fee="1500")
    first = api.pay(patient, other, key="k1", method="stripe")
    flush(redis_url)
    again = api.pay(patient, other, key="k1", method="stripe")
    assert first.status_code == again.status_code == 201, again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()


# --- the lifecycle ------------------------------------------------------------------------


def test_one_extra_charge_reported_twice_is_recorded_once(app, client, api, patient, consultation):
    paid = payment_of(api.pay(patient, consultation))["id"]
    deliver(client, app, provider_event(paid, event_id="evt_1", transaction_id="txn_1"))
    for event_id in ("evt_2", "evt_3"):  # the provider reports the same charge twice
        deliver(client, app, provider_event(paid, event_id=event_id, transaction_id="txn_2"))
    [record] = events(app, paid, "duplicate_charge")
    assert record["transaction_id"] == "txn_2"


def test_a_transition_waits_for_a_writer_holding_only_the_payment_row(
    app, api, staff, patient, consultation, database_url
):
    """The payment row lock, on its own: every transition also locks the consultation,
    so only a writer that locks the payment alone (an operator's SQL, a worker) shows it.
    Without it the confirmation decides on the row as it was and loses to the version check.
    """
    paid = payment_of(api.pay(patient, consultation))["id"]
    with raw_connection(database_url) as writer, ThreadPoolExecutor(1) as pool:
        writer.execute(
            "UPDATE payments SET status = 'processing', version = version + 1 WHERE id = %s",
            (paid,),
        )
        confirming = pool.submit(api.confirm, staff, paid, "txn_after_the_writer")
        wait_for_lock_waiter(database_url)
        writer.commit()
        response = confirming.result(timeout=30)
    assert response.status_code == 200, response.get_json()
    [confirmed] = events(app, paid, "confirmed")
    assert confirmed["previous_status"] == "processing"


def test_a_late_success_waits_for_an_open_checkout_and_records_a_duplicate_charge(
    make_app, race, database_url
):
    """An ``optimistic`` checkout does not lock the consultation, but its insert takes the
    foreign key's share lock on it: a late success's consultation lock waits for the
    open checkout, then sees its new payment and records the extra charge for staff.
    Without that lock the late success would miss the uncommitted payment and fail on
    the index (a 500)."""
    app = make_app(PAYMENT_GUARD="optimistic")
    factory = Factory(app)
    patient, staff = factory.patient(), factory.staff()
    consultation = factory.consultation(patient)
    api = ApiClient(app)
    abandoned = payment_of(api.pay(patient, consultation, key="first"))["id"]
    age_payment(app, abandoned, app.config["PAYMENT_PENDING_TTL"] + 60)
    with app.app_context():
        assert expire_stale() == 1
    inserted, go_on = threading.Event(), threading.Event()

    def pause_after_insert(**context):  # the new payment's row exists, uncommitted
        inserted.set()
        assert go_on.wait(30)

    race.at(hooks.AFTER_INSERT, pause_after_insert)
    with ThreadPoolExecutor(2) as pool:
        paying = pool.submit(api.pay, patient, consultation, key="second")
        assert inserted.wait(30)
        late = pool.submit(api.confirm, staff, abandoned, "txn_late")
        wait_for_lock_waiter(database_url)  # on the consultation, behind the open checkout
        go_on.set()
        new, response = paying.result(timeout=30), late.result(timeout=30)

    assert new.status_code == 201
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["type"] == "/problems/duplicate-charge"
    [record] = events(app, abandoned, "duplicate_charge")
    assert record["transaction_id"] == "txn_late"
    assert check_invariants(app)["payments"] == 2
