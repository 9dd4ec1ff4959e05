"""Rate limits: per user on payment POSTs, per address on login; 429 is clear and carries
Retry-After; a double click never reaches the limit; Redis storage, memory without it.

Flask-Limiter keeps its storage on the module-level ``limiter``: the app built last in a
test decides it, so each test builds its rate-limited app after any other.
"""

from __future__ import annotations

import logging
import time

import redis as redis_lib

from app.extensions import limiter
from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory
from tests.support.headers import assert_security_headers
from tests.support.invariants import check_invariants
from tests.support.services import RedisServer
from tests.support.storm import storm


def limited_app(make_app, **overrides):
    return make_app(RATELIMIT_ENABLED=True, RATELIMIT_PAYMENTS="5 per minute", **overrides)


def test_the_payment_limit_counts_per_user_not_per_address_or_token_text(
    make_app, redis_url, caplog
):
    # given two patients behind the same address
    app = limited_app(make_app)
    factory = Factory(app)
    a, b = factory.patient(), factory.patient()
    ca, cb = factory.consultation(a), factory.consultation(b)
    api = ApiClient(app)
    caplog.set_level(logging.DEBUG)
    # when A floods
    statuses = [api.pay(a, ca.id, key="same").status_code for _ in range(8)]
    # then A is limited after five, and B is not
    assert statuses == [201] * 5 + [429] * 3
    assert api.pay(b, cb.id, key="b-key").status_code == 201
    # and the limit's bucket names the user, never any part of a token
    keys = [k.decode() for k in redis_lib.Redis.from_url(redis_url).keys("LIMITS*")]
    assert any(f"/user:{a.id}/" in k for k in keys), keys
    for token in (a.token, b.token):
        assert not any(token[-8:] in k for k in keys)
        assert token[-8:] not in caplog.text
    check_invariants(app)


def test_a_request_without_a_valid_token_is_401_before_any_limit_is_counted(make_app):
    app = limited_app(make_app)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    client = app.test_client()
    api = ApiClient(app)
    body = {"consultation_id": consultation.id, "payment_method": "gcash"}
    for _ in range(8):
        assert client.post("/api/v1/payments", json=body).status_code == 401
    # the 401s were counted against nobody: the patient's own five are intact
    assert [api.pay(patient, consultation.id, key="k").status_code for _ in range(6)] == [
        201
    ] * 5 + [429]


def test_login_is_limited_per_account_whatever_the_address(make_app, factory, caplog):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    target, bystander = factory.patient(), factory.patient()
    caplog.set_level(logging.INFO)

    def attempt(email, address):
        form = {"email": email, "password": "guess"}
        return client.post("/login", data=form, environ_base={"REMOTE_ADDR": address}).status_code

    # given guesses at one account, each from a different address
    statuses = [attempt(target.email, f"198.51.100.{i}") for i in range(1, 5)]
    # then the account's bucket fills; another account from a fresh address is unaffected
    assert statuses == [200, 200, 200, 429]
    assert attempt(bystander.email, "198.51.100.99") == 200
    assert target.email not in caplog.text and "ratelimit" in caplog.text


def test_login_is_limited_per_address_whatever_the_account(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_ADDRESS="3 per minute")
    client = app.test_client()
    patient = factory.patient()
    # given guesses at three different accounts from one address
    for i in range(3):
        wrong = {"email": f"someone{i}@example.test", "password": "guess"}
        assert client.post("/login", data=wrong).status_code == 200
    # then that address is cut off, even with the right password of a fourth account
    right = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert right.status_code == 429


def test_a_429_under_the_api_is_problem_json_with_the_real_retry_after(make_app):
    app = limited_app(make_app)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    api = ApiClient(app)
    created = [api.pay(patient, consultation.id, key="k") for _ in range(5)]
    limited = api.pay(patient, consultation.id, key="k")
    # successful answers carry the limit's state, but no Retry-After (it means "come back")
    assert all("Retry-After" not in r.headers for r in created)
    assert created[-1].headers["X-RateLimit-Remaining"] == "0"
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    body = limited.json
    assert body["type"] == "/problems/too-many-requests"
    assert body["detail"] == "Too many requests. Please wait a moment and try again."
    assert 1 <= body["retry_after"] <= 60
    assert limited.headers["Retry-After"] == str(body["retry_after"])
    assert_security_headers(limited)


def test_a_429_on_a_page_is_a_readable_page_with_retry_after(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="1 per minute")
    client = app.test_client()
    client.post("/login", data={"email": "x@example.test", "password": "nope"})
    response = client.post("/login", data={"email": "x@example.test", "password": "nope"})
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Too many requests. Please wait a moment and try again." in page
    assert "<html" in page.lower()
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # and it says when, in the same seconds as Retry-After
    wait = int(response.headers["Retry-After"])
    assert f"Try again in {wait} second{'s' if wait != 1 else ''}." in page
    assert_security_headers(response)


def test_limits_live_in_redis_when_it_is_configured_and_in_memory_without_it(make_app, redis_url):
    from limits.storage import MemoryStorage, RedisStorage

    limited_app(make_app)
    assert isinstance(limiter.storage, RedisStorage)
    limited_app(make_app, REDIS_URL=None)
    assert isinstance(limiter.storage, MemoryStorage)


def test_a_paused_redis_neither_stalls_limited_payments_nor_lifts_the_limit(make_app):
    redis = RedisServer().start()
    try:
        app = limited_app(make_app, REDIS_URL=redis.url)
        factory = Factory(app)
        patient = factory.patient()
        consultation = factory.consultation(patient)
        api = ApiClient(app)
        redis.pause()  # accepts connections, answers nothing
        timed = []
        for _ in range(7):
            started = time.monotonic()
            timed.append(
                (api.pay(patient, consultation.id, key="k").status_code, time.monotonic() - started)
            )
        statuses = [status for status, _ in timed]
        slowest = max(seconds for _, seconds in timed)
        # the limit was counted in memory meanwhile, and no request waited out redis-py's 5 s
        assert statuses == [201] * 5 + [429] * 2, statuses
        assert slowest < 2.0, timed
        check_invariants(app)
    finally:
        redis.stop()
        # init_app does not reset this flag on the module-level limiter: later apps in this
        # process must start with their own storage considered alive.
        limiter._storage_dead = False


def test_a_double_click_never_reaches_the_limit_while_a_flood_does(make_app):
    app = limited_app(make_app)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    api = ApiClient(app)

    def click(_):
        return api.pay(patient, consultation.id, key="double-click").status_code

    # given three identical clicks released at the same instant
    clicks = storm(3, click)
    # then all three get the one payment; a flood of the same request is then cut off
    assert clicks == [201, 201, 201]
    flood = [click(i) for i in range(10)]
    assert flood == [201, 201] + [429] * 8
    assert check_invariants(app)["payments"] == 1


def test_a_double_submitted_login_is_not_limited(make_app, factory):
    patient = factory.patient()
    app = make_app(RATELIMIT_ENABLED=True)  # the default RATELIMIT_LOGIN
    form = {"email": patient.email, "password": PASSWORD}
    statuses = storm(2, lambda _: app.test_client().post("/login", data=form).status_code)
    assert statuses == [302, 302]


def test_the_checkout_form_shares_the_patients_payment_budget_and_says_so_in_the_page(make_app):
    from app.checkout.tokens import current_tokens

    # given a patient who already spent four of five payment requests through the API
    app = limited_app(make_app)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    api = ApiClient(app)
    assert [api.pay(patient, consultation.id, key="k").status_code for _ in range(4)] == [201] * 4
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = patient.session_token
    with app.test_request_context():
        token = current_tokens().mint(patient.id, consultation.id)
    form = {"payment_method": "gcash", "checkout_token": token}
    url = f"/consultations/{consultation.id}/checkout"
    # when the form is submitted twice more with htmx
    first = browser.post(url, data=form, headers={"HX-Request": "true"})
    second = browser.post(url, data=form, headers={"HX-Request": "true"})
    # then the fifth request passes and the sixth is refused inside the form, with Retry-After
    assert first.status_code == 200 and first.headers["HX-Redirect"].startswith("/payments/")
    assert second.status_code == 429
    assert "Too many payment attempts" in second.text
    assert "<form" in second.text and "<html" not in second.text
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    check_invariants(app)


def test_a_front_desk_signs_many_people_in_from_one_address_with_the_default_limits(
    make_app, factory
):
    # given the default limits and ten staff at one desk (one address), each mistyping once
    app = make_app(RATELIMIT_ENABLED=True)
    statuses = []
    for _ in range(10):
        person = factory.staff()
        for password in ("typo", PASSWORD):
            form = {"email": person.email, "password": password}
            statuses.append(app.test_client().post("/login", data=form).status_code)
    # then nobody at the desk is locked out
    assert statuses == [200, 302] * 10
    # but one account guessed at from many addresses is, after five tries
    target = factory.patient()
    guesses = [
        app.test_client()
        .post(
            "/login",
            data={"email": target.email, "password": f"guess{i}"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{i}"},
        )
        .status_code
        for i in range(6)
    ]
    assert guesses == [200] * 5 + [429]


def test_a_body_over_the_size_limit_is_413_and_leaves_the_limits_in_place(
    make_app, factory, caplog
):
    # given limits kept in Redis, and a login body over MAX_CONTENT_LENGTH
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    patient = factory.patient()
    caplog.set_level(logging.INFO)
    padding = "a" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    # when it is sent twice
    for i in range(2):
        too_big = {"email": patient.email, "password": "guess", "padding": padding}
        response = client.post(
            "/login", data=too_big, environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}
        )
        assert response.status_code == 413
    # then the limiter never took the key function's refusal for a broken storage (which
    # skips the check and moves the counts to memory), and the account's bucket still counts
    assert "falling back" not in caplog.text and "storage unreachable" not in caplog.text
    statuses = [
        client.post(
            "/login",
            data={"email": patient.email, "password": "guess"},
            environ_base={"REMOTE_ADDR": f"203.0.113.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert "falling back" not in caplog.text
