"""Logs never carry passwords, tokens, raw idempotency keys or patient details."""

from __future__ import annotations

import logging

from sqlalchemy import text

from app.extensions import db
from app.payments import hooks
from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory
from tests.support.pg import raw_connection


def test_an_unexpected_database_error_logs_where_and_sqlstate_but_not_the_value(
    api, app, factory, caplog, race
):
    # given a statement that fails with a patient's email among its parameters
    patient = factory.patient(email="maria.santos@example.test")
    consultation = factory.consultation(patient)

    def broken_statement(session, **context):
        session.execute(text("SELECT CAST(:v AS integer)"), {"v": patient.email})

    race.at(hooks.BEFORE_INSERT, broken_statement)
    caplog.set_level(logging.DEBUG)
    # when a payment hits it
    response = api.pay(patient, consultation)
    # then the client gets a clear 500 and the log says where, not what
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "unhandled database error on POST /api/v1/payments" in caplog.text
    assert "sqlstate=22P02" in caplog.text
    assert "at app/payments/hooks.py:" in caplog.text  # the innermost line of our code
    assert patient.email not in caplog.text
    with app.app_context():
        db.session.rollback()


def _debug_everywhere(caplog) -> None:
    """DEBUG on the root and on every logger that exists, except SQLAlchemy's engine echo.

    ``sqlalchemy.engine`` at INFO/DEBUG *is* SQL echo: an opt-in debugging tool that prints
    statements and result rows by design; SQLAlchemy pins it at WARN and so do we.
    """
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        if not name.startswith("sqlalchemy"):
            caplog.set_level(logging.DEBUG, logger=name)


def test_logins_payments_and_their_failures_leave_no_secret_in_the_logs(
    make_app, database_url, caplog
):
    # given a rate-limited app with short lock waits, and secrets we can look for
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_PAYMENTS="7 per minute",
        PAYMENT_LOCK_TIMEOUT_MS=200,
    )
    api = ApiClient(app)
    factory = Factory(app)
    patient = factory.patient(email="juana.dela.cruz@example.test", name="Juana Dela Cruz")
    stranger = factory.patient(email="pedro.penduko@example.test", name="Pedro Penduko")
    paid, locked = factory.consultation(patient), factory.consultation(patient, fee="1500")
    keys = ["key-Zq8uN2vYt5", "key-Hm4xR7cWp1", "key-Lk3sD9fGb6"]
    wrong_password = "not-my-Password-77"
    _debug_everywhere(caplog)
    client = app.test_client()

    # when the usual and the unusual happen
    statuses = [
        client.post("/login", data={"email": patient.email, "password": wrong_password}),
        client.post("/login", data={"email": "nobody@example.test", "password": PASSWORD}),
        client.post("/login", data={"email": patient.email + "\x00", "password": PASSWORD}),
        client.post("/login", data={"email": patient.email, "password": PASSWORD}),
        client.post("/logout"),
        api.pay(patient, paid, key=keys[0]),  # created
        api.pay(patient, paid, key=keys[0]),  # replayed
        api.pay(patient, paid, key=keys[1]),  # conflict: already paid
        api.pay(patient, paid, key=keys[0], amount="5000.00"),  # key reused, another request
        api.pay(stranger, paid, key=keys[2]),  # another patient's consultation
        api.pay(patient, paid, key="bad\tkey"),  # not one key in the header: 400
        client.post(
            "/api/v1/payments",
            json={"consultation_id": paid.id, "payment_method": "gcash"},
            headers={"Authorization": "Bearer " + stranger.token[:-3] + "xyz"},
        ),
    ]
    with raw_connection(database_url) as conn:
        conn.execute("SELECT id FROM consultations WHERE id = %s FOR UPDATE", (locked.id,))
        statuses.append(api.pay(patient, locked, key=keys[2]))  # lock timeout: 503
        conn.rollback()
    statuses += [api.pay(patient, paid, key=keys[0]) for _ in range(3)]  # past the limit: 429
    # then the flow really went through every branch
    assert [r.status_code for r in statuses] == [
        200, 200, 422, 302, 302, 201, 201, 409, 422, 404, 400, 401, 503, 201, 429, 429,
    ]  # fmt: skip
    # and nothing secret reached any log record, message, traceback or extra field
    logged = caplog.text + "\n".join(str(vars(r)) for r in caplog.records)
    assert "payment.outcome" in logged and "ratelimit" in logged  # the logs did run
    secrets = {
        "password": PASSWORD,
        "wrong password": wrong_password,
        "patient token": patient.token,
        "patient token tail": patient.token[-12:],
        "stranger token": stranger.token,
        "stranger token tail": stranger.token[-12:],
        "patient email": patient.email,
        "patient name": patient.name,
        "stranger email": stranger.email,
        "stranger name": stranger.name,
        **{f"idempotency key {i}": key for i, key in enumerate(keys)},
    }
    leaked = {what: value for what, value in secrets.items() if value in logged}
    assert not leaked, f"secrets in the logs: {sorted(leaked)}"


def test_json_logs_are_one_object_per_line_with_the_same_fields_and_no_secret(make_app, caplog):
    import json

    from app import json_log_formatter

    app = make_app(LOG_FORMAT="json")
    factory = Factory(app)
    patient = factory.patient(email="ramon.magsaysay@example.test")
    consultation = factory.consultation(patient)
    caplog.set_level(logging.INFO)
    assert ApiClient(app).pay(patient, consultation, key="json-secret-key").status_code == 201
    formatter = json_log_formatter()
    lines = [formatter.format(r) for r in caplog.records if r.name.startswith("app.")]
    objects = [json.loads(line) for line in lines]
    assert all("\n" not in line for line in lines)
    outcome = next(o for o in objects if "payment.outcome" in o["message"])
    assert {"time", "level", "logger", "message"} <= set(outcome)
    assert outcome["level"] == "INFO" and outcome["logger"] == "app.payments"
    assert "outcome=created" in outcome["message"]
    assert not any(s in "".join(lines) for s in ("json-secret-key", patient.email, patient.token))
