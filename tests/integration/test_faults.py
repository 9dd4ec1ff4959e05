"""Faults on real PostgreSQL, Redis and gunicorn: nothing lost, nothing doubled, nothing bare.

Each case holds a request at an exact point (a row lock held from a raw connection, the
waiting backend found in pg_stat_activity), breaks something there, and then checks that
every answer was clear (problem+json, never a bare 500), that the app serves the next
request normally, and that the invariants hold. Redis faults under storms live in
test_http_storms.py; two app instances under a storm too.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta

import pytest

from app import create_app
from app.config import POOLERS
from app.extensions import db
from app.models import utcnow
from app.payments.idempotency import hash_key
from tests.conftest import base_config, migrate_database
from tests.support import pg
from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.live import LiveServer
from tests.support.services import PostgresServer
from tests.support.storm import (
    HttpResult,
    get_json,
    pay_over_http,
    payment_over_http,
    storm,
)


@pytest.fixture
def servers(database_url, pooler):
    started: list[LiveServer] = []

    def start(redis_url, database=None, **kw) -> LiveServer:
        kw.setdefault("database_pooler", pooler)
        server = LiveServer(database_url=database or database_url, redis_url=redis_url, **kw)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


class Payer:
    """A patient paying over HTTP, remembering every answer for the final checks."""

    def __init__(self, server: LiveServer, patient) -> None:
        self.server = server
        self.patient = patient
        self.answers: list[HttpResult] = []

    def pay(self, consultation_id: int, key: str) -> HttpResult:
        answer = pay_over_http(self.server.url, self.patient, consultation_id, key=key)
        self.answers.append(answer)
        return answer

    def in_background(self, consultation_id: int, key: str) -> Callable[[], HttpResult]:
        """Start a payment in a thread; the returned function joins it (re-raising its error)."""
        outcome: dict = {}

        def run():
            try:
                outcome["answer"] = self.pay(consultation_id, key)
            except Exception as exc:  # the client's own view of a dropped connection
                outcome["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def join() -> HttpResult:
            thread.join(30)
            assert not thread.is_alive(), "the request never finished"
            if "error" in outcome:
                raise outcome["error"]
            return outcome["answer"]

        return join

    def assert_every_answer_was_clear(self) -> None:
        for answer in self.answers:
            assert answer.status != 500, answer.body
            if answer.status >= 400:
                assert answer.headers["Content-Type"] == "application/problem+json", answer
                assert answer.body["status"] == answer.status
                assert answer.body["detail"].strip()

    def assert_serves_the_next_request(self, payment_id: int) -> None:
        answer = payment_over_http(self.server.url, self.patient, payment_id)
        assert answer.status == 200, answer
        assert get_json(self.server.url + "/healthz", {}).status == 200


def hold_row_lock(database_url: str, consultation_id: int):
    """A raw transaction holding the consultation's row lock until it is rolled back."""
    conn = pg.raw_connection(database_url)
    conn.execute("SELECT id FROM consultations WHERE id = %s FOR UPDATE", (consultation_id,))
    return conn


@pytest.fixture
def world(app):
    factory = Factory(app)
    patient = factory.patient()
    return patient, factory.consultation(patient), factory.consultation(patient, fee="1500")


# ---------------------------------------------------------------- a killed backend


def test_a_backend_killed_mid_transaction_is_retried_on_a_fresh_connection(
    app, world, servers, redis_url, database_url
):
    patient, consultation, _ = world
    server = servers(redis_url, workers=2, env={"PAYMENT_LOCK_TIMEOUT_MS": "10000"})
    payer = Payer(server, patient)
    # given a payment held inside its transaction (it claimed its key, then waits on the lock)
    lock = hold_row_lock(database_url, consultation.id)
    answer = payer.in_background(consultation.id, "killed-backend")
    first = pg.wait_for_lock_waiter(database_url)
    # when its backend is terminated
    pg.terminate(database_url, first)
    # then the request starts again on a new connection, and finishes once the lock is free
    retry = pg.wait_for_lock_waiter(database_url, exclude={first})
    assert retry != first
    lock.rollback()
    lock.close()
    created = answer()
    assert created.status == 201, created.body
    assert "payment.retry sqlstate=57P01 attempt=1" in server.log_path.read_text()
    # and the same key replays that one payment
    again = payer.pay(consultation.id, "killed-backend")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == created.body
    payer.assert_every_answer_was_clear()
    payer.assert_serves_the_next_request(created.body["data"]["payment"]["id"])
    assert check_invariants(app)["payments"] == 1


def test_a_backend_killed_on_every_attempt_is_a_clear_503_and_writes_nothing(
    app, world, servers, redis_url, database_url
):
    patient, consultation, _ = world
    server = servers(redis_url, workers=2, env={"PAYMENT_LOCK_TIMEOUT_MS": "10000"})
    payer = Payer(server, patient)
    lock = hold_row_lock(database_url, consultation.id)
    answer = payer.in_background(consultation.id, "killed-thrice")
    killed: set[int] = set()
    for _ in range(3):  # service.MAX_ATTEMPTS
        pid = pg.wait_for_lock_waiter(database_url, exclude=killed)
        pg.terminate(database_url, pid)
        killed.add(pid)
    refused = answer()
    lock.rollback()
    lock.close()
    assert refused.status == 503
    assert refused.body["type"] == "/problems/busy"
    assert int(refused.headers["Retry-After"]) >= 1
    assert check_invariants(app)["payments"] == 0
    # the key was never left claimed: the same request now simply succeeds
    created = payer.pay(consultation.id, "killed-thrice")
    assert created.status == 201
    payer.assert_every_answer_was_clear()
    payer.assert_serves_the_next_request(created.body["data"]["payment"]["id"])
    assert check_invariants(app)["payments"] == 1


# ---------------------------------------------------------------- lock waits past the bound


@pytest.mark.parametrize("pooler", POOLERS)
def test_lock_waits_past_the_lock_timeout_are_clear_refusals_and_nothing_hangs(
    app, world, servers, redis_url, database_url
):
    patient, consultation, other = world
    server = servers(redis_url, workers=2, env={"PAYMENT_LOCK_TIMEOUT_MS": "300"})
    payer = Payer(server, patient)
    # given the consultation locked elsewhere for longer than the lock timeout
    lock = hold_row_lock(database_url, consultation.id)
    started = time.monotonic()
    # when a storm of clicks (ten keys) arrives
    answers = storm(10, lambda i: payer.pay(consultation.id, f"locked-{i}"))
    waited = time.monotonic() - started
    lock.rollback()
    lock.close()
    # then each one is told to retry, promptly, and nothing was written
    assert {a.status for a in answers} == {503}
    assert all(a.body["type"] == "/problems/busy" for a in answers)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers)
    assert waited < 10, waited
    assert check_invariants(app)["payments"] == 0
    # and once the lock is gone the same keys work, one payment in all
    statuses = sorted(payer.pay(consultation.id, f"locked-{i}").status for i in range(3))
    assert statuses == [201, 409, 409]
    # a repeat whose key is still claimed by an unfinished request past the bound gets 409
    with pg.raw_connection(database_url) as claim:
        hold_key_claim(claim, patient.id, "in-flight")
        repeat = payer.pay(other.id, "in-flight")
        claim.rollback()
    assert repeat.status == 409
    assert repeat.body["type"] == "/problems/payment-in-progress"
    assert int(repeat.headers["Retry-After"]) >= 1
    assert payer.pay(other.id, "in-flight").status == 201
    payer.assert_every_answer_was_clear()
    assert check_invariants(app)["payments"] == 2


def hold_key_claim(conn, user_id: int, key: str) -> None:
    """An uncommitted claim on (user, key), as an unfinished request would hold it."""
    now = utcnow()
    conn.execute(
        "INSERT INTO idempotency_keys (user_id, key_hash, fingerprint, state, created_at,"
        " expires_at) VALUES (%s, %s, 'x', 'processing', %s, %s)",
        (user_id, hash_key(key), now, now + timedelta(hours=1)),
    )


# ---------------------------------------------------------------- the database restarted


@pytest.fixture
def own_postgres(redis_url):
    """A PostgreSQL of this test's own (it gets stopped), migrated like the template."""
    server = PostgresServer(max_connections=100).start()
    with pg.raw_connection(server.url) as conn:
        conn.autocommit = True
        conn.execute("CREATE DATABASE checkout")
    url = server.url_for("checkout")
    migrate_database(url)
    app = create_app(base_config(url, redis_url))
    yield server, url, app
    with app.app_context():
        db.engine.dispose()
    server.destroy()


def test_the_database_restarted_between_requests_is_invisible_to_the_next_ones(
    own_postgres, servers, redis_url
):
    pg_server, url, app = own_postgres
    factory = Factory(app)
    patient = factory.patient()
    first, second, third = (factory.consultation(patient) for _ in range(3))
    server = servers(redis_url, database=url, workers=2, threads=2)
    payer = Payer(server, patient)
    paid = payer.pay(first.id, "before-restart")
    assert paid.status == 201
    payment_id = paid.body["data"]["payment"]["id"]
    # every worker's pool holds connections from before the restart
    storm(8, lambda i: payment_over_http(server.url, patient, payment_id))
    # when PostgreSQL restarts between two requests
    pg_server.restart()
    # then the very next requests succeed: pool_pre_ping swaps the dead connections
    after = storm(8, lambda i: payment_over_http(server.url, patient, payment_id))
    assert [a.status for a in after] == [200] * 8
    assert payer.pay(second.id, "after-restart").status == 201
    # while it is down: clear 503s with Retry-After, for the API and for pages
    browser = Browser(server.url)
    pg_server.stop()
    down = payer.pay(third.id, "while-down")
    # (the login form carries no CSRF token: a visitor has no session to bind one to)
    page = browser.post("/login", {"email": patient.email, "password": "x"})
    pg_server.start()
    assert down.status == 503 and int(down.headers["Retry-After"]) >= 1
    assert page.status == 503, page
    assert "We are busy right now" in page.body["raw"]
    assert page.headers["Content-Type"].startswith("text/html")
    assert int(page.headers["Retry-After"]) >= 1
    # and back up, the refused request goes through
    assert payer.pay(third.id, "while-down").status == 201
    payer.assert_every_answer_was_clear()
    payer.assert_serves_the_next_request(payment_id)
    assert check_invariants(app)["payments"] == 3


class Browser:
    """Just enough of a browser for a form POST: cookies and the page's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def csrf_token(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            page = response.read().decode()
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def post(self, path: str, form: dict[str, str]) -> HttpResult:
        data = urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.base_url + path, data=data, timeout=30) as r:
                return HttpResult(r.status, dict(r.headers), {"raw": r.read().decode()})
        except urllib.error.HTTPError as e:
            return HttpResult(e.code, dict(e.headers), {"raw": e.read().decode()})


# ---------------------------------------------------------------- a worker killed mid-payment


def test_a_worker_killed_mid_payment_loses_the_request_and_the_retry_pays_once(
    app, world, servers, redis_url, database_url
):
    patient, consultation, _ = world
    server = servers(redis_url, workers=2, threads=2, env={"PAYMENT_LOCK_TIMEOUT_MS": "10000"})
    payer = Payer(server, patient)
    workers = server.worker_pids()
    # given a payment held mid-transaction, its key claimed but not committed
    lock = hold_row_lock(database_url, consultation.id)
    answer = payer.in_background(consultation.id, "sigkill")
    backend = pg.wait_for_lock_waiter(database_url)
    worker = pg.process_owning_port(pg.client_port(database_url, backend), workers)
    # when the gunicorn worker running it is killed outright
    os.kill(worker, signal.SIGKILL)
    # then the client sees its connection drop, and the orphaned transaction dies uncommitted
    with pytest.raises(OSError):
        answer()
    lock.rollback()
    lock.close()
    pg.wait_until_gone(database_url, backend)
    assert check_invariants(app)["payments"] == 0
    # and the client's retry with the same key pays exactly once
    retried = payer.pay(consultation.id, "sigkill")
    assert retried.status == 201
    assert "Idempotent-Replayed" not in retried.headers
    again = payer.pay(consultation.id, "sigkill")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == retried.body
    # gunicorn replaced the worker, and the app serves the next request
    wait_for(lambda: len(server.worker_pids()) == 2 and worker not in server.worker_pids())
    payer.assert_every_answer_was_clear()
    payer.assert_serves_the_next_request(retried.body["data"]["payment"]["id"])
    assert check_invariants(app)["payments"] == 1
    log = server.log_path.read_text()
    assert "sigkill" not in log and patient.token not in log


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)
