"""Behind a reverse proxy: TRUSTED_PROXY_HOPS decides whose address the login limit counts."""

from __future__ import annotations

from tests.support.auth import AuthActions
from tests.support.factory import PASSWORD

PROXY = "10.0.0.5"  # the load balancer: every request reaches the app from here


def through_proxy(forwarded_for: str, proto: str | None = None) -> dict:
    """Test-client arguments for a request the proxy passes on: it connects from ``PROXY``
    and appends the address it saw to ``X-Forwarded-For``."""
    headers = {"X-Forwarded-For": forwarded_for}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return {"headers": headers, "environ_base": {"REMOTE_ADDR": PROXY}}


def test_behind_one_trusted_proxy_each_forwarded_client_has_its_own_login_budget(make_app, factory):
    app = make_app(
        RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_ADDRESS="3 per minute", TRUSTED_PROXY_HOPS=1
    )
    client = app.test_client()
    auth_actions = AuthActions(app)
    staff = factory.staff()
    # given one client spends its whole budget on other accounts' wrong passwords
    for i in range(3):
        wrong = auth_actions.attempt(
            client, f"someone{i}@example.test", "guess", **through_proxy("203.0.113.7")
        )
        assert wrong.status_code == 200
    refused = auth_actions.attempt(
        client, "someone9@example.test", "guess", **through_proxy("203.0.113.7")
    )
    assert refused.status_code == 429
    # then a staff member at another address, through the same proxy, still logs in
    right = auth_actions.attempt(
        client, staff.email, PASSWORD, **through_proxy("198.51.100.20", proto="https")
    )
    assert right.status_code == 302


def test_only_the_trusted_hop_counts_so_a_client_cannot_pick_its_address(make_app, factory):
    app = make_app(
        RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_ADDRESS="3 per minute", TRUSTED_PROXY_HOPS=1
    )
    client = app.test_client()
    auth_actions = AuthActions(app)
    # given a client that prepends a fresh made-up address to each request; the proxy
    # appends the address it really saw (203.0.113.7)
    statuses = [
        auth_actions.attempt(
            client, f"x{i}@example.test", "guess", **through_proxy(f"192.0.2.{i}, 203.0.113.7")
        ).status_code
        for i in range(4)
    ]
    # then the made-up entries are ignored and the real address is cut off
    assert statuses == [200, 200, 200, 429]


def test_with_no_trusted_proxy_forwarded_headers_are_ignored(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_ADDRESS="3 per minute")
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    client = app.test_client()
    auth_actions = AuthActions(app)
    # a client sending a different X-Forwarded-For each time still spends one budget
    statuses = [
        auth_actions.attempt(
            client, f"x{i}@example.test", "guess", **through_proxy(f"192.0.2.{i}")
        ).status_code
        for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
