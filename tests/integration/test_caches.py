"""The caches that make repeats and guards cheap (answers, API tokens, sessions), on real
PostgreSQL and Redis.

- a repeat answered from Redis reads no database row, from the API and from the form
  (only a key's first replay marks its row, once);
- a cached API token stops working the moment it is rotated;
- a new key for a consultation whose payment is committed is refused without waiting
  for the consultation's row lock, in two statements, and its 409 is stored for replays
  like any other;
- a form's first submit runs the API create's statements: no user row (the session's
  cached user id), no second read of the consultation; a disabled account gets no id.
"""

from __future__ import annotations

import time

import pytest
import redis as redis_lib
from sqlalchemy import select

from app.extensions import db
from app.models import IdempotencyKey, User
from tests.support.auth import AuthActions
from tests.support.checkout import open_form, submit
from tests.support.factory import auth
from tests.support.pg import raw_connection
from tests.support.queries import counting_queries

URL = "/api/v1/payments"


def post(client, user, consultation, key: str, token: str | None = None):
    headers = auth(user) if token is None else {"Authorization": f"Bearer {token}"}
    return client.post(
        URL,
        json={"consultation_id": consultation.id, "payment_method": "gcash"},
        headers={**headers, "Idempotency-Key": key},
    )


@pytest.mark.parametrize("token_cache_ttl", [60, 0])
def test_an_api_replay_from_redis_reads_no_database_row(make_app, factory, token_cache_ttl):
    app = make_app(PAYMENT_GUARD="hybrid", API_TOKEN_CACHE_TTL=token_cache_ttl)
    client = app.test_client()
    patient = factory.patient()
    consultation = factory.consultation(patient)
    first = post(client, patient, consultation, "k1")
    with counting_queries(app) as first_replay:
        post(client, patient, consultation, "k1")
    with counting_queries(app) as later_replays:
        answers = [post(client, patient, consultation, "k1") for _ in range(3)]
    assert first.status_code == 201
    assert all(a.get_data() == first.get_data() for a in answers)
    assert all(a.headers["Idempotent-Replayed"] == "true" for a in answers)
    # The first replay marks its key once; with the token cached, later ones read nothing.
    assert [s.split()[0] for s in first_replay if "idempotency_keys" in s] == ["UPDATE"]
    if token_cache_ttl:
        assert later_replays == []
    else:  # sensitivity: without the token cache, each replay reads the user by token
        assert len(later_replays) == 3 and all("FROM users" in s for s in later_replays)


@pytest.fixture
def form_checkout(make_app, factory):
    """A hybrid-guarded app, a signed-in patient's client, a consultation and its Pay form."""
    app = make_app(PAYMENT_GUARD="hybrid")
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = AuthActions(app).session_for(patient)
    return app, client, consultation, open_form(client, consultation)


def test_a_repeated_form_submit_from_redis_reads_only_its_payment_row(form_checkout):
    app, client, consultation, form = form_checkout
    first = submit(client, consultation, form)
    submit(client, consultation, form)  # the first replay marks the key
    with counting_queries(app) as statements:
        again = submit(client, consultation, form)
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    # Nothing about the user, the key or the consultation: only where to send the patient
    # (the provider while the payment is pending, else its page), by primary key.
    assert len(statements) == 1
    assert "FROM payments" in statements[0] and "WHERE payments.id =" in statements[0]
    with app.app_context():
        assert db.session.scalar(select(IdempotencyKey.replayed_at)) is not None


def test_a_rotated_token_stops_working_at_once_though_it_was_cached(
    app, runner, factory, redis_url
):
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = app.test_client()
    assert post(client, patient, consultation, "before").status_code == 201
    cached = redis_lib.Redis.from_url(redis_url).keys("token:v1:*")
    assert len(cached) == 1  # the token is answered from Redis from now on
    rotated = runner.invoke(args=["users", "token", patient.email])
    assert rotated.exit_code == 0, rotated.output
    new_token = rotated.output.strip()
    old = client.get(URL + "/1", headers=auth(patient))
    assert old.status_code == 401
    again = post(client, patient, consultation, "before")  # even a replay of its own key
    assert again.status_code == 401
    assert post(client, patient, consultation, "before", token=new_token).status_code == 201


def test_a_committed_payment_refuses_a_new_key_without_waiting_for_the_row_lock(
    make_app, factory, database_url
):
    app = make_app(PAYMENT_GUARD="pessimistic", PAYMENT_LOCK_TIMEOUT_MS=2000)
    client = app.test_client()
    patient = factory.patient()
    consultation = factory.consultation(patient)
    paid = post(client, patient, consultation, "first")
    holder = raw_connection(database_url)
    try:
        # Someone (a confirmation, a refund) holds the consultation's row lock for a while.
        holder.execute("SELECT id FROM consultations WHERE id = %s FOR UPDATE", [consultation.id])
        started = time.monotonic()
        refused = post(client, patient, consultation, "second")
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert paid.status_code == 201 and refused.status_code == 409
    assert refused.json["existing_payment_id"] == paid.json["data"]["payment"]["id"]
    assert waited < 1.0  # a queue on the lock would have waited the holder out (or 503)
    # The refusal is the key's stored answer: the same key replays it byte for byte.
    replay = post(client, patient, consultation, "second")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == refused.get_data()
    assert replay.headers["Idempotency-Key-Expires"] == refused.headers["Idempotency-Key-Expires"]


def test_a_token_of_a_deleted_user_is_refused_once_its_cache_entry_ends(
    make_app, factory, redis_url
):
    app = make_app(API_TOKEN_CACHE_TTL=60)
    client = app.test_client()
    patient = factory.patient()
    assert client.get(URL + "/1", headers=auth(patient)).status_code == 404
    with app.app_context():
        user = db.session.get(User, patient.id)
        user.api_token_hash = None  # revoked in the database by hand, not through rotation
        db.session.commit()
    redis_lib.Redis.from_url(redis_url).flushall()  # the cache entry's TTL has run out
    assert client.get(URL + "/1", headers=auth(patient)).status_code == 401


def test_a_copied_cookie_gets_no_cached_answer_once_its_session_ended(form_checkout):
    app, client, consultation, form = form_checkout
    first = submit(client, consultation, form)  # caches the session's user id
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert submit(thief, consultation, form).headers["Location"] == first.headers["Location"]
    # when the patient logs out (the session token rotates and its cached user id is ended)
    assert client.post("/logout", data={"csrf_token": form["csrf_token"]}).status_code == 302
    # then the copy is a stranger again, even on the path that never reads the users table
    again = submit(thief, consultation, form)
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/login")


def _shape(statements: list[str]) -> list[str]:
    return [" ".join(s.split()[:4]) for s in statements]


def test_a_form_submit_runs_the_api_creates_statements_and_reads_no_user(form_checkout, factory):
    app, client, consultation, form = form_checkout
    patient = factory.patient()
    other = factory.consultation(patient)
    # Both doors' caches warm: the API token's user, the session token's user.
    assert app.test_client().get(URL + "/1", headers=auth(patient)).status_code == 404
    assert submit(client, consultation, form, method=None).status_code == 422
    with counting_queries(app) as api_create:
        assert post(app.test_client(), patient, other, "api").status_code == 201
    with counting_queries(app) as form_create:
        assert submit(client, consultation, form).status_code == 303
    # The session's user id and the signed form token are all the form needs besides the
    # API's own statements: no user row, no second read of the consultation.
    assert _shape(form_create) == _shape(api_create)
    assert not any("FROM users" in s for s in form_create)


def test_a_storm_loser_is_refused_in_two_statements(make_app, factory):
    app = make_app(PAYMENT_GUARD="hybrid")
    client = app.test_client()
    patient = factory.patient()
    consultation = factory.consultation(patient)
    assert post(client, patient, consultation, "winner").status_code == 201
    with counting_queries(app) as statements:
        assert post(client, patient, consultation, "loser").status_code == 409
    # The consultation, its card and its committed payment in one read; the 409 stored
    # on the key in its claim.
    assert len(statements) == 2
    assert "FROM consultations" in statements[0] and "payments" in statements[0]
    assert statements[1].startswith("INSERT INTO idempotency_keys")


def test_a_disabled_account_cannot_pay_through_the_forms_short_path(form_checkout, redis_url):
    app, client, consultation, form = form_checkout
    with app.app_context():
        user = db.session.scalar(select(User).where(User.role == "patient"))
        user.active = False  # by hand: its session token is not rotated
        db.session.commit()
    redis_lib.Redis.from_url(redis_url).flushall()
    refused = submit(client, consultation, form)
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/login")
