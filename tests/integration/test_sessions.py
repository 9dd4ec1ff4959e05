"""Logging out ends the session everywhere: the cookie names a per-user session token, which a
logout or a password change replaces (Flask-Login's alternative-id recipe)."""

from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from app.models import User
from tests.support.api import ApiClient
from tests.support.factory import PASSWORD
from tests.support.live import ROOT

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/consultations/7/checkout"}


def copy_of_session(app, client):
    """Another browser holding a copy of ``client``'s session cookie (e.g. stolen)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def assert_logged_out(client):
    page = client.get("/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    # htmx is told to go to the login page, not handed the login page as a fragment
    fragment = client.get("/", headers=HTMX)
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/login?next=%2Fconsultations%2F7%2Fcheckout"


def test_a_copied_cookie_works_until_logout_and_not_after(auth_actions, app, client, factory):
    patient = factory.patient()
    auth_actions.log_in(client, patient)
    copy = copy_of_session(app, client)
    assert copy.get("/").status_code == 200
    # when the patient logs out in their own browser
    assert client.post("/logout").status_code == 302
    # then the copy, which never logged out, is refused too
    assert_logged_out(copy)
    assert_logged_out(client)


def test_logging_out_in_one_browser_logs_out_the_other(auth_actions, app, factory):
    patient = factory.patient()
    phone, laptop = app.test_client(), app.test_client()
    auth_actions.log_in(phone, patient)
    auth_actions.log_in(laptop, patient)
    assert phone.get("/").status_code == 200 and laptop.get("/").status_code == 200
    laptop.post("/logout")
    assert_logged_out(phone)
    # and logging in again works, in either browser
    auth_actions.log_in(phone, patient)
    assert phone.get("/").status_code == 200


def test_another_users_logout_leaves_this_session_alone(auth_actions, app, factory):
    maria, jose = factory.patient(), factory.patient()
    maria_browser, jose_browser = app.test_client(), app.test_client()
    auth_actions.log_in(maria_browser, maria)
    auth_actions.log_in(jose_browser, jose)
    jose_browser.post("/logout")
    assert maria_browser.get("/").status_code == 200


def test_a_password_change_ends_every_session_but_not_the_api_token(
    auth_actions, app, client, factory
):
    patient = factory.patient()
    auth_actions.log_in(client, patient)
    copy = copy_of_session(app, client)
    # when the password is changed (the operator's command)
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", patient.email, "--password", "a-new-password"]
    )
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    # then both browsers are logged out, the old password is refused, the new one works
    assert_logged_out(client)
    assert_logged_out(copy)
    old = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert old.status_code == 200
    auth_actions.log_in(client, patient, "a-new-password")
    assert client.get("/").status_code == 200
    # and the API token, a separate credential, still works
    assert ApiClient(app).pay(patient, factory.consultation(patient)).status_code == 201


def test_a_logout_leaves_the_api_token_working(auth_actions, app, client, factory):
    patient = factory.patient()
    auth_actions.log_in(client, patient)
    client.post("/logout")
    assert ApiClient(app).pay(patient, factory.consultation(patient)).status_code == 201


def test_set_password_refuses_a_short_password_and_changes_nothing(
    auth_actions, app, client, factory
):
    patient = factory.patient()
    auth_actions.log_in(client, patient)
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", patient.email, "--password", "short"]
    )
    assert result.exit_code != 0 and "at least 8 characters" in result.output
    assert client.get("/").status_code == 200
    with app.app_context():
        token = db.session.get(User, patient.id).session_token
    assert token == patient.session_token


def test_the_migration_gives_each_existing_user_their_own_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    # given a database from before the session token, with two users
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="0001")
        db.session.execute(
            text(
                "INSERT INTO users (email, name, password_hash, role, created_at) VALUES "
                "('a@x.test', 'A', 'x', 'patient', '2026-01-01'), "
                "('b@x.test', 'B', 'x', 'patient', '2026-01-01')"
            )
        )
        db.session.commit()
        # when it is migrated
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        tokens = conn.execute(text("SELECT session_token FROM users")).scalars().all()
    engine.dispose()
    assert len(tokens) == 2 and all(len(t) >= 40 for t in tokens)
    assert tokens[0] != tokens[1]
