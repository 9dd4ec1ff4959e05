"""Login and logout for the HTML pages."""

from __future__ import annotations

import pytest

from tests.support.factory import PASSWORD


def test_the_demo_patient_logs_in_and_sees_their_consultations(auth_actions, app, client, factory):
    patient = factory.patient(email="maria@example.test")
    factory.consultation(patient, fee="5000", doctor="Dr. Ana Cruz")
    response = auth_actions.attempt(client, "MARIA@example.test")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Dr. Ana Cruz" in page and "₱5,000.00" in page


def test_a_wrong_password_is_refused_with_a_clear_message(auth_actions, client, factory):
    patient = factory.patient()
    response = auth_actions.attempt(client, patient.email, "wrong-password")
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_starts_a_new_session_and_sets_safe_cookie_flags(auth_actions, client, factory):
    patient = factory.patient()
    client.get("/login")
    client.set_cookie("session", "attacker-fixed-value")
    response = auth_actions.attempt(client, patient.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "attacker-fixed-value" not in cookie


def test_login_ignores_an_offsite_next_parameter(client, factory):
    patient = factory.patient()
    response = client.post(
        "/login?next=https://evil.example/x", data={"email": patient.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_logout_is_a_post_and_ends_the_session(auth_actions, client, factory):
    patient = factory.patient()
    auth_actions.attempt(client, patient.email)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_pages_carry_the_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "email", ["a\x00b@example.test", "a\tb@example.test", "x\x7f@example.test"]
)
def test_control_characters_in_the_email_are_a_form_error_not_a_500(
    auth_actions, client, factory, email
):
    factory.patient()
    response = auth_actions.attempt(client, email)
    assert response.status_code == 422
    assert "Enter a valid email address." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_nothing_from_before_the_login_survives_it(auth_actions, client, factory):
    # given an anonymous session holding something (say, planted by an attacker)
    patient = factory.patient()
    with client.session_transaction() as session:
        session["planted"] = "x"
    # when the patient logs in
    auth_actions.attempt(client, patient.email)
    # then the session is a new one: only the login is in it
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == patient.session_token


def test_logout_empties_the_session(auth_actions, client, factory):
    patient = factory.patient()
    auth_actions.attempt(client, patient.email)
    client.post("/logout")
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_session_cookies_are_secure_when_served_over_https(
    auth_actions, make_app, factory, monkeypatch
):
    patient = factory.patient()
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    client = make_app().test_client()
    cookie = auth_actions.attempt(client, patient.email).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookies_are_not_marked_secure_by_default(
    auth_actions, make_app, factory, monkeypatch
):
    patient = factory.patient()
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    cookie = auth_actions.attempt(make_app().test_client(), patient.email).headers["Set-Cookie"]
    assert "Secure" not in cookie


def test_a_visitor_s_session_cookie_has_the_same_flags(make_app):
    # a visitor's first cookie: the language chosen before logging in
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    cookie = client.post("/language", data={"locale": "id"}).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_an_empty_login_form_is_a_422_naming_the_missing_fields(client):
    response = client.post("/login", data={})
    assert response.status_code == 422
    assert response.get_data(as_text=True).count("This field is required.") == 2
