"""The API keeps its word on idempotency keys, on real PostgreSQL and Redis.

- a replay is the first answer byte for byte: from Redis, from the database after
  FLUSHALL, under every PAYMENT_GUARD, for a 201 and for a 409;
- every key sent is validated; a header key and a different body key are refused;
- the header is an RFC 8941 sf-string (or a bare key); anything else is 400;
- REQUIRE_IDEMPOTENCY_KEY=1 refuses a create without a key;
- every keyed answer says until when its key is honoured.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import func, select, update
from werkzeug.http import parse_date

from app.extensions import db
from app.models import IdempotencyKey, PaymentEvent
from app.payments.guards import GUARD_NAMES as GUARDS
from tests.support.api import PAYMENTS, ApiClient
from tests.support.auth import AuthActions
from tests.support.checkout import open_form, submit
from tests.support.factory import auth
from tests.support.invariants import payment_row_counts

# The headers that belong to the answer: a replay repeats them exactly.
ANSWER_HEADERS = ("Content-Type", "Location", "Idempotency-Key-Expires")


def answer_of(response) -> tuple[int, bytes, dict[str, str | None]]:
    return (
        response.status_code,
        response.get_data(),
        {name: response.headers.get(name) for name in ANSWER_HEADERS},
    )


def replay_sources(app, caplog) -> list[str]:
    """Where each replay was answered from, read from the service's log lines; and the
    repeats wrote no payment events (they are counted on their key, once)."""
    with app.app_context():
        repeats = db.session.scalar(
            select(func.count())
            .select_from(PaymentEvent)
            .where(PaymentEvent.event_type.in_(("replayed", "refused")))
        )
    assert repeats == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "app.payments"]
    return [line.split(" source=")[1].split()[0] for line in lines if "outcome=replayed" in line]


@pytest.mark.parametrize("guard", GUARDS)
def test_replays_are_the_first_answer_byte_for_byte(make_app, redis_url, factory, guard, caplog):
    caplog.set_level("INFO", logger="app.payments")
    app = make_app(PAYMENT_GUARD=guard)
    api = ApiClient(app)
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="5000")
    other = factory.consultation(patient, fee="1500")
    key = f"exact-{guard}"

    first = api.pay(patient, consultation, key=key)
    # A second key for the same consultation: a stored 409 must replay exactly too.
    conflict = api.pay(patient, consultation, key="exact-409")
    warm = api.pay(patient, consultation, key=key)
    redis_lib.Redis.from_url(redis_url).flushall()
    cold = api.pay(patient, consultation, key=key)
    again = api.pay(patient, consultation, key=key)
    conflict_cold = api.pay(patient, consultation, key="exact-409")

    assert first.status_code == 201 and conflict.status_code == 409
    assert first.headers["Idempotency-Key-Expires"] and first.headers["Location"]
    for replay in (warm, cold, again):
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert answer_of(replay) == answer_of(first)
    assert answer_of(conflict_cold) == answer_of(conflict)
    # Only the cached guard reads Redis; after FLUSHALL even it must go to the database,
    # and the database's copy goes back to Redis unchanged.
    if guard == "hybrid":
        assert replay_sources(app, caplog) == ["redis", "database", "redis", "database"]
    else:
        assert set(replay_sources(app, caplog)) == {"database"}
    with app.app_context():
        replayed = db.session.scalars(
            select(IdempotencyKey.replayed_at).order_by(IdempotencyKey.id)
        ).all()
    # Both keys were replayed: each marked once, however many repeats followed.
    assert all(replayed) and len(replayed) == 2
    assert payment_row_counts(app)["payments"] == 1
    assert api.pay(patient, other).status_code == 201


def test_the_key_expiry_is_an_http_date_one_ttl_ahead_and_absent_without_a_key(make_app, factory):
    app = make_app(IDEMPOTENCY_TTL=3600)
    api = ApiClient(app)
    patient = factory.patient()
    before = datetime.now(UTC).replace(microsecond=0)
    keyed = api.pay(patient, factory.consultation(patient), key="e")
    expires = parse_date(keyed.headers["Idempotency-Key-Expires"])
    assert before + timedelta(seconds=3600) <= expires <= before + timedelta(seconds=3602)
    unkeyed = api.pay(patient, factory.consultation(patient))
    assert unkeyed.status_code == 201
    assert "Idempotency-Key-Expires" not in unkeyed.headers


@pytest.mark.parametrize(
    "body_key",
    [5, "", "ключ", "nul\x00key", "new\nline", "x" * 256, True, ["k"]],
    ids=["number", "empty", "cyrillic", "nul", "newline", "too-long", "bool", "list"],
)
def test_a_bad_body_key_is_refused_even_with_a_good_header(
    app, api, patient, consultation, body_key
):
    before = payment_row_counts(app)
    response = api.pay(patient, consultation, key="ok", idempotency_key=body_key)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "idempotency_key" in response.json["errors"]
    assert payment_row_counts(app) == before


def test_header_and_body_keys_that_differ_are_refused(app, api, patient, consultation):
    before = payment_row_counts(app)
    response = api.pay(patient, consultation, key="two", idempotency_key="one")
    assert response.status_code == 422
    assert "Differs from the Idempotency-Key header" in response.json["errors"]["idempotency_key"]
    assert payment_row_counts(app) == before


def test_an_escaped_header_key_is_the_same_key_as_the_body_one(app, api, patient, consultation):
    first = api.pay(patient, consultation, key=r'"q\"x-1"')
    second = api.pay(patient, consultation, idempotency_key='q"x-1')
    third = api.pay(patient, consultation, key=r'"q\"x-1"')
    assert first.status_code == 201
    assert second.status_code == third.status_code == 201
    assert second.headers["Idempotent-Replayed"] == third.headers["Idempotent-Replayed"] == "true"
    assert second.get_data() == third.get_data() == first.get_data()


@pytest.mark.parametrize(
    ("sent", "same_as"),
    [('"abc-1"', "abc-1"), ("abc-1", "abc-1"), (r'"back\\slash"', "back\\slash")],
    ids=["sf-string", "bare-token", "escaped-backslash"],
)
def test_each_header_form_names_the_body_key(app, api, patient, consultation, sent, same_as):
    first = api.pay(patient, consultation, idempotency_key=same_as)
    second = api.pay(patient, consultation, key=sent)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", '"a", "b"')],
        [("Idempotency-Key", "a, b")],
        [("Idempotency-Key", '"a";p=1')],
        [("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        [("Idempotency-Key", '"broken')],
    ],
    ids=["list", "bare-list", "parameters", "sent-twice", "unterminated"],
)
def test_a_header_that_is_not_one_key_is_400(app, client, patient, consultation, headers):
    before = payment_row_counts(app)
    body = {"consultation_id": consultation.id, "payment_method": "gcash"}
    # raw: a header list can carry the key twice, which the api fixture cannot send
    response = client.post(PAYMENTS, json=body, headers=[*auth(patient).items(), *headers])
    assert response.status_code == 400
    assert response.json["type"] == "/problems/idempotency-key-malformed"
    assert payment_row_counts(app) == before


def test_a_create_without_a_key_is_refused_when_keys_are_required(make_app, factory):
    app = make_app(REQUIRE_IDEMPOTENCY_KEY=True)
    api = ApiClient(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    before = payment_row_counts(app)
    response = api.pay(patient, consultation)
    assert response.status_code == 400
    assert response.json["type"] == "/problems/idempotency-key-missing"
    assert payment_row_counts(app) == before
    assert api.pay(patient, consultation, idempotency_key="k").status_code == 201


def test_keys_are_optional_by_default(app, api, patient, consultation):
    assert app.config["REQUIRE_IDEMPOTENCY_KEY"] is False
    assert api.pay(patient, consultation).status_code == 201


@pytest.mark.parametrize("guard", ["hybrid", "pessimistic"])
def test_the_checkout_form_replays_the_same_stored_answer(
    make_app, redis_url, factory, guard, caplog
):
    caplog.set_level("INFO", logger="app.payments")
    app = make_app(PAYMENT_GUARD=guard)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = AuthActions(app).session_for(patient)
    form = open_form(client, consultation)
    first = submit(client, consultation, form)
    warm = submit(client, consultation, form)
    redis_lib.Redis.from_url(redis_url).flushall()
    cold = submit(client, consultation, form)
    assert first.status_code == warm.status_code == cold.status_code == 303
    assert first.headers["Location"] == warm.headers["Location"] == cold.headers["Location"]
    sources = replay_sources(app, caplog)
    assert "database" in sources and len(sources) == 2
    assert payment_row_counts(app)["payments"] == 1


def test_a_key_finished_before_headers_were_stored_replays_as_json(
    app, api, redis_url, patient, consultation
):
    first = api.pay(patient, consultation, key="legacy")
    with app.app_context():
        db.session.execute(update(IdempotencyKey).values(response_headers=None))
        db.session.commit()
    redis_lib.Redis.from_url(redis_url).flushall()
    replay = api.pay(patient, consultation, key="legacy")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Content-Type"] == "application/json"
    assert replay.get_data() == first.get_data()
