"""Behind a reverse proxy: TRUSTED_PROXY_HOPS decides whose address the login limit counts."""

from __future__ import annotations

from tests.support.factory import PASSWORD

PROXY = "10.0.0.5"  # the load balancer: every request reaches the app from here


def _login(client, email, password, forwarded_for=None, proto=None):
    headers = {}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return client.post(
        "/login",
        data={"email": email, "password": password},
        headers=headers,
        environ_base={"REMOTE_ADDR": PROXY},
    )


def test_behind_one_trusted_proxy_each_forwarded_client_has_its_own_login_budget(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute", TRUSTED_PROXY_HOPS=1)
    client = app.test_client()
    staff = factory.staff()
    # given one client spends its whole budget on other accounts' wrong passwords
    for i in range(3):
        wrong = _login(client, f"someone{i}@example.test", "guess", "203.0.113.7")
        assert wrong.status_code == 200
    assert _login(client, "someone9@example.test", "guess", "203.0.113.7").status_code == 429
    # then a staff member at another address, through the same proxy, still logs in
    right = _login(client, staff.email, PASSWORD, "198.51.100.20", proto="https")
    assert right.status_code == 302


def test_only_the_trusted_hop_counts_so_a_client_cannot_pick_its_address(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute", TRUSTED_PROXY_HOPS=1)
    client = app.test_client()
    # given a client that prepends a fresh made-up address to each request; the proxy
    # appends the address it really saw (203.0.113.7)
    statuses = [
        _login(client, f"x{i}@example.test", "guess", f"192.0.2.{i}, 203.0.113.7").status_code
        for i in range(4)
    ]
    # then the made-up entries are ignored and the real address is cut off
    assert statuses == [200, 200, 200, 429]


def test_with_no_trusted_proxy_forwarded_headers_are_ignored(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    client = app.test_client()
    # a client sending a different X-Forwarded-For each time still spends one budget
    statuses = [
        _login(client, f"x{i}@example.test", "guess", f"192.0.2.{i}").status_code for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
