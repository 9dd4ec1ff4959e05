"""Who may do what, on every route: an authorization matrix and CSRF, both driven by one table.

Routes are discovered from ``app.url_map``; a route missing from ``ROUTES`` fails
``test_every_route_is_classified`` with ready-to-paste lines. Adding a route is one line.

Roles (each a fresh client):
- ``anon``: no session, no token;
- ``owner``: patient A, who owns the world's consultations, payment and invoice;
- ``other``: patient B (session and token), who owns one consultation of their own;
- ``staff``: a staff member (session and token);
- ``wrong``: A's session cookie with B's API token: the API must not fall back to the cookie
  (it answers as B), and the pages must not take the token (they answer as A).

Placeholders in paths, JSON and forms name the world's rows: ``{consultation}`` (A's, unpaid),
``{paid_consultation}``, ``{payment}``, ``{invoice}`` (A's), ``{b_consultation}`` (B's).
Rule arguments are filled by name (``consultation_id`` → ``{consultation}``, and so on); give
``path=`` for anything else.
"""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.support.access import (
    NOT_CSRF_PROTECTED,
    ROLES,
    ROUTES,
    World,
    discovered_routes,
    fill,
    path_for,
    payload,
    send,
)
from tests.support.headers import assert_security_headers
from tests.support.invariants import row_counts


def test_every_route_is_classified_in_the_access_table(app):
    found = discovered_routes(app)
    unclassified = sorted(set(found) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(found))
    lines = [
        f"    {(method, rule)!r}: Expect(anon, owner, other, staff, wrong),  # {found[(method, rule)]}"
        for method, rule in unclassified
    ]
    assert not unclassified, (
        "Routes missing from ROUTES in tests/support/access.py; add one line each:\n"
        + "\n".join(lines)
    )
    assert not stale, f"ROUTES lists routes that no longer exist: {stale}"


@pytest.fixture
def world(app) -> World:
    return World(app)


# ---------------------------------------------------------------- the matrix


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_role_gets_exactly_its_status_on_each_route(world, route, role):
    method, rule = route
    response = send(world, role, method, rule)
    expected = ROUTES[route].status(role)
    assert response.status_code == expected, (
        f"{role} on {method} {rule}: expected {expected}, got {response.status_code}: "
        f"{response.get_data(as_text=True)[:300]}"
    )
    assert_security_headers(response)
    if rule.startswith("/api/") and response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.json["detail"]


def _with_placeholders() -> list[tuple[str, str]]:
    def uses_ids(route, expect):
        # a payload built by a function is assumed to use the world's ids
        blob = f"{path_for(route[1], expect)} {expect.json} {expect.form}"
        if callable(expect.json) or callable(expect.form):
            return True
        return bool(re.search(r"\{(?!owner_email)\w+\}", blob))

    return [route for route, expect in ROUTES.items() if uses_ids(route, expect)]


def _leak_cases() -> list[tuple[tuple[str, str], str]]:
    """(route, role) for every refused non-owner: an allowed role has nothing to leak."""
    return [
        (route, role)
        for route in _with_placeholders()
        for role in ("other", "wrong")
        if ROUTES[route].status(role) >= 400
    ]


@pytest.mark.parametrize(
    ("route", "role"), _leak_cases(), ids=lambda v: v if isinstance(v, str) else f"{v[0]} {v[1]}"
)
def test_someone_elses_id_looks_exactly_like_a_missing_one(world, route, role):
    # given a role that does not own the world's rows
    method, rule = route
    # when it asks for A's rows and for rows that do not exist
    theirs = send(world, role, method, rule)
    missing = send(world, role, method, rule, ids=world.missing_ids())
    # then both answers are the same, so nothing tells that A's rows exist
    assert theirs.status_code == missing.status_code
    assert theirs.mimetype == missing.mimetype
    if theirs.is_json:
        assert theirs.json["type"] == missing.json["type"]
        assert theirs.json["title"] == missing.json["title"]


# ---------------------------------------------------------------- CSRF on every HTML POST

CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's


def html_post_routes() -> list[tuple[str, str]]:
    return [
        (method, rule)
        for (method, rule), expect in ROUTES.items()
        if method in {"POST", "PUT", "PATCH", "DELETE"}
        and not rule.startswith(NOT_CSRF_PROTECTED)
        and expect.csrf_exempt is None
    ]


class _SignedAt(TimestampSigner):
    """A signer whose clock reads ``at``: tokens from the past, without sleeping."""

    at = 0

    def get_timestamp(self) -> int:
        return self.at


def csrf_token(app, raw: str, *, age_seconds: int = 0, secret: str | None = None) -> str:
    signer = type("Signer", (_SignedAt,), {"at": int(time.time()) - age_seconds})
    serializer = URLSafeTimedSerializer(
        secret or app.config["SECRET_KEY"], salt=CSRF_SALT, signer=signer
    )
    return serializer.dumps(raw)


TOKENS = {
    "valid": dict(),
    "missing": None,
    "wrong_signature": dict(secret="not-the-secret-key"),
    "another_sessions_token": dict(raw="f" * 40),
    "expired": dict(age_seconds=3600),
}


@pytest.mark.parametrize("case", list(TOKENS))
@pytest.mark.parametrize("route", html_post_routes(), ids=lambda r: f"{r[0]} {r[1]}")
def test_html_posts_refuse_missing_wrong_and_expired_csrf_tokens(make_app, route, case):
    # given CSRF on (tokens live 60 s) and the route's usual request, as the table's role
    app = make_app(WTF_CSRF_ENABLED=True, WTF_CSRF_TIME_LIMIT=60)
    world = World(app)
    method, rule = route
    expect = ROUTES[route]
    client, headers = world.client(expect.csrf_as)
    raw = "a" * 40
    with client.session_transaction() as session:
        session["csrf_token"] = raw
        user_before = session.get("_user_id")
    form = dict(payload(expect.form or {}, world, world.ids))
    if TOKENS[case] is not None:
        options = dict(TOKENS[case])
        form["csrf_token"] = csrf_token(app, options.pop("raw", raw), **options)
    before = row_counts(app)
    # when it is posted with this token
    response = client.open(
        fill(path_for(rule, expect), world.ids), method=method, data=form, headers=headers
    )
    # then only the valid token gets through; the others change nothing at all
    assert_security_headers(response)
    if case == "valid":
        assert response.status_code == expect.status(expect.csrf_as)
        return
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "This page has expired" in response.get_data(as_text=True)
    assert row_counts(app) == before
    with client.session_transaction() as session:
        assert session.get("_user_id") == user_before


def test_a_csrf_token_is_judged_by_its_age_not_only_its_signature(make_app):
    # given tokens stamped 30 s and 61 s ago, and a 60 s lifetime
    app = make_app(WTF_CSRF_ENABLED=True, WTF_CSRF_TIME_LIMIT=60)
    world = World(app)
    results = {}
    for age in (30, 61):
        client, _ = world.client("owner")
        with client.session_transaction() as session:
            session["csrf_token"] = "b" * 40
        token = csrf_token(app, "b" * 40, age_seconds=age)
        results[age] = client.post("/logout", data={"csrf_token": token}).status_code
    # then the young one logs out and the old one is refused
    assert results == {30: 302, 61: 400}


def test_the_csrf_token_may_also_come_as_the_x_csrftoken_header(make_app):
    # htmx requests send the token in a header rather than a form field
    app = make_app(WTF_CSRF_ENABLED=True)
    world = World(app)
    client, _ = world.client("owner")
    with client.session_transaction() as session:
        session["csrf_token"] = "c" * 40
    headers = {"X-CSRFToken": csrf_token(app, "c" * 40)}
    assert client.post("/logout", headers=headers).status_code == 302
