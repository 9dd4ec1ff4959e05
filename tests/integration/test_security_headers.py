"""Security headers on every kind of answer: pages, API, static files and every error."""

from __future__ import annotations

import re

import pytest

from tests.support.factory import auth
from tests.support.headers import assert_security_headers, csp_directives


def _boom():
    raise RuntimeError("unexpected")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/static/vendor/htmx-2.0.11.min.js", {}, 200),
        ("GET", "/static/css/app.css", {}, 200),
        ("GET", "/no-such-page", {}, 404),
        ("GET", "/api/v1/no-such-thing", {}, 404),
        ("GET", "/logout", {}, 405),
        ("DELETE", "/api/v1/payments", {}, 405),
        ("POST", "/login", {"data": "x" * 70_000, "content_type": "text/plain"}, 413),
        (
            "POST",
            "/api/v1/payments",
            {"data": "x" * 70_000, "content_type": "application/json", "as_patient": True},
            413,
        ),
        ("POST", "/api/v1/payments", {"json": {}}, 401),
        ("GET", "/healthz", {}, 200),
    ],
    ids=lambda v: v if isinstance(v, str | int) else "",
)
def test_every_kind_of_answer_carries_the_security_headers(
    client, factory, method, path, kwargs, status
):
    kwargs = dict(kwargs)
    if kwargs.pop("as_patient", False):
        kwargs["headers"] = auth(factory.patient())
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status
    assert_security_headers(response)


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/payments/1"])
def test_an_unexpected_error_is_a_clear_500_with_the_security_headers(app, factory, path):
    # given a view that crashes (the API one after authenticating)
    endpoint = "health.healthz" if path == "/healthz" else "api.get_payment"
    original = app.view_functions[endpoint]
    app.view_functions[endpoint] = lambda **kw: _boom()
    try:
        response = app.test_client().get(path, headers=auth(factory.patient()))
    finally:
        app.view_functions[endpoint] = original
    # then the answer is the app's own 500, never a bare one, and never the exception text
    assert response.status_code == 500
    assert "unexpected" not in response.get_data(as_text=True)
    assert "Nothing was charged" in response.get_data(as_text=True)
    assert_security_headers(response)


def test_a_refused_csrf_token_page_carries_the_security_headers(make_app):
    response = make_app(WTF_CSRF_ENABLED=True).test_client().post("/logout")
    assert response.status_code == 400
    assert_security_headers(response)


def test_the_policy_allows_scripts_and_styles_from_the_app_only(client):
    csp = csp_directives(client.get("/login"))
    assert csp["default-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert csp["base-uri"] == "'self'"


def test_the_login_page_loads_htmx_from_the_app_itself(client):
    page = client.get("/login").get_data(as_text=True)
    assert re.search(
        r'<script src="/static/vendor/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js" defer></script>', page
    )
