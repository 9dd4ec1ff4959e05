"""PostgreSQL fails over mid-storm: a real primary and a synchronous standby made with
pg_basebackup, the app server on libpq's several-host URL, the primary killed and the
standby promoted while patients press Pay (tests/support/failover.py).

The asynchronous pair's losses are counted by hand (``python -m tests.support.failover
--async``), not asserted: whether one run loses a payment is luck (docs/operations.md).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.support import failover
from tests.support.api import ApiClient
from tests.support.invariants import check_invariants
from tests.support.lifecycle import WEBHOOK_URL, provider_event, signed_headers, state
from tests.support.live import LiveServer
from tests.support.services import ReplicatedPostgres, free_port
from tests.support.storm import pay_over_http

# Seconds after `pg_ctl promote` returns within which every new payment is made. Measured
# on a 2-core machine shared with other test runs (docs/operations.md, "Database
# failover"); the bound leaves room for a slower machine.
RECOVERY_BOUND = 3.0
CLEAR_ANSWERS = {200, 201, 303, 409, 503}


@pytest.fixture
def sync_pair():
    pair = ReplicatedPostgres(synchronous=True).start()
    yield pair
    pair.destroy()


def _post_webhook(server, app, payment_id):
    body = provider_event(payment_id, event_id="evt_mid_failover")
    request = urllib.request.Request(
        server.url + WEBHOOK_URL, data=body, headers=signed_headers(app, body), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), body
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), body


def test_a_failover_to_a_synchronous_standby_loses_no_acknowledged_payment(sync_pair, redis_url):
    # given the app server on both hosts (read-write sessions only), patients paying, and
    # when the primary is killed mid-storm and the standby promoted OUTAGE seconds later
    result = failover.run_failover_storm(sync_pair, redis_url, webhook=_post_webhook)
    app = result.app
    try:
        print("\nsynchronous failover:", failover.summary(result))
        answers = result.answers
        # then every answer is clear: no 5xx but 503, and every 503 says when to retry
        unclear = [(a.kind, a.status, a.body) for a in answers if a.status not in CLEAR_ANSWERS]
        assert unclear == []
        refused = [a for a in answers if a.status == 503]
        assert refused, "no request met the outage: the storm missed the failover"
        assert all(a.retry_after and int(a.retry_after) >= 1 for a in refused)
        # the checkout form's refusal is the safe-retry message
        form_refusals = [a.body for a in refused if a.kind == "form"]
        assert all(failover.SAFE_RETRY_WORDS in body for body in form_refusals)
        # new payments succeed within the bound after the promotion, and from then on always
        first = result.first_new_payment_after(result.promoted_at)
        assert first is not None and first <= RECOVERY_BOUND, first
        late = result.refused_fresh_after(result.promoted_at + RECOVERY_BOUND)
        assert late == [], [(a.kind, a.status, a.body) for a in late]
        # an instance idle through the failover serves its next requests at once: its pool
        # drops the connections to the dead primary instead of handing them out
        assert result.notes["quiet-after"] == [200] * failover.QUIET_READS
        # every payment answered as made is on the promoted standby: none lost
        assert len(result.acknowledged()) > 20
        assert result.lost() == set()
        # no consultation has two active payments; every payment has its invoice and tax
        check_invariants(app)
        # the shared key and each form pressed twice made one payment each
        one_key = {a.payment_id for a in answers if a.kind == "api-one-key" and a.status == 201}
        assert len(one_key) == 1, one_key
        for token in {a.key for a in answers if a.kind == "form" and a.status == 303}:
            assert len({a.payment_id for a in answers if a.key == token and a.payment_id}) == 1
        # a retry with the same key gets the first answer if it committed, else pays now
        _assert_retries_get_the_first_answer(result, sync_pair.hosts_url("checkout"))
        # the provider's notification that came mid-outage was refused, so it is resent...
        status, headers, body = result.webhook_mid_outage
        assert status == 503 and int(headers["Retry-After"]) >= 1, status
        # ...and, resent after the failover, it confirms the payment
        payment_id = result.notes["webhook-payment"]
        resent = app.test_client().post(WEBHOOK_URL, data=body, headers=signed_headers(app, body))
        assert resent.status_code == 200, resent.get_data(as_text=True)
        assert state(app, payment_id)["status"] == "completed"
        # the operator commands reach the new primary through the same URL
        runner = app.test_cli_runner()
        for command in (["payments", "sync"], ["payments", "send-outbox"]):
            outcome = runner.invoke(args=command)
            assert outcome.exit_code == 0, (command, outcome.output, outcome.exception)
    finally:
        with app.app_context():
            db.engine.dispose()


def _assert_retries_get_the_first_answer(result, database_url: str) -> None:
    """Repeat every fresh API payment with its key: the same payment where the first
    answer was 201, a new one (201) where it was refused."""
    fresh = [a for a in result.answers if a.kind == "api-fresh"]
    first = {a.key: a.payment_id for a in fresh if a.status == 201}
    assert first and len(first) < len(fresh), "the storm needs both answers"
    server = LiveServer(database_url=database_url, redis_url=None, workers=1).start()
    try:
        for a in fresh:
            again = pay_over_http(server.url, result.patient, a.consultation_id, key=a.key)
            assert again.status == 201, (a.key, again.status, again.body)
            if a.key in first:
                assert again.body["data"]["payment"]["id"] == first[a.key], a.key
    finally:
        server.stop()


def test_readyz_fails_and_logs_an_error_while_the_primary_has_no_synchronous_standby(
    sync_pair, redis_url, caplog
):
    # given an app told to require a synchronous standby, on the primary that has one
    sync_pair.primary.sql("CREATE DATABASE checkout")
    url = sync_pair.hosts_url("checkout")
    config = {**failover.app_config(url, redis_url), "DATABASE_REQUIRE_SYNC_STANDBY": True}
    app = create_app(config)
    try:
        client = app.test_client()
        assert client.get("/readyz").json["database"] == "ok"
        # when the standby goes away: commits would now wait, or (with the standby's name
        # removed to keep writing) be on one server only
        sync_pair.standby.stop("immediate")
        response = client.get("/readyz")
        # then
        assert response.status_code == 503
        assert response.json["database"] == "no-sync-standby"
        assert any(
            r.levelname == "ERROR" and "no synchronous standby" in r.getMessage()
            for r in caplog.records
        )
        # and the same app without the setting stays ready (it does not ask)
        relaxed = create_app(failover.app_config(url, redis_url))
        assert relaxed.test_client().get("/readyz").status_code == 200
        with relaxed.app_context():
            db.engine.dispose()
    finally:
        with app.app_context():
            db.engine.dispose()


def test_an_error_handler_that_needs_the_missing_database_still_answers_503(redis_url):
    # given an app whose database refuses connections, serving errors as production does
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"
    app = create_app({**failover.app_config(dead, redis_url), "PROPAGATE_EXCEPTIONS": False})

    class Refused(Exception):
        pass

    def refuse():
        raise Refused()

    def refusal_page(_error):  # like a refusal page that reads the consultation again
        db.session.execute(text("SELECT 1"))

    app.add_url_rule("/refused", "refused", refuse)
    app.register_error_handler(Refused, refusal_page)
    # when
    response = app.test_client().get("/refused")
    # then the database's absence is the answer, not a 500
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "We are busy right now" in response.get_data(as_text=True)


def test_a_primary_fenced_read_only_is_left_for_the_promoted_standby(sync_pair, redis_url):
    # given an app whose pooled connections all lead to the primary
    url, app, patient, consultations, fresh = failover.prepare(sync_pair, None)
    api = ApiClient(app)
    try:
        for n in range(3):
            assert api.pay(patient, fresh.get_nowait(), key=f"before-{n}").status_code == 201
        # when the standby is promoted and the old primary, still running, is fenced
        # read-only (what a failover tool does to a primary it cannot stop): pre-ping's
        # SELECT 1 still succeeds there, only writes fail, with SQLSTATE 25006
        sync_pair.promote()
        sync_pair.primary.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        sync_pair.primary.sql("SELECT pg_reload_conf()")
        statuses = [
            api.pay(patient, fresh.get_nowait(), key=f"after-{n}").status_code for n in range(5)
        ]
        # then the read-only answer drops the pool: at most the first press is refused (503),
        # the next ones connect afresh and libpq picks the promoted standby
        assert statuses[0] in (201, 503) and statuses[1:] == [201] * 4, statuses
        assert sync_pair.standby.sql("SELECT count(*) FROM payments", database="checkout") == str(
            4 + statuses.count(201)
        )
    finally:
        with app.app_context():
            db.engine.dispose()
