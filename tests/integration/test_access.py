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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory, auth
from tests.support.headers import assert_security_headers
from tests.support.invariants import row_counts

ROLES = ("anon", "owner", "other", "staff", "wrong")


@dataclass(frozen=True)
class Expect:
    """The status each role gets, and the request to send (with CSRF off)."""

    anon: int
    owner: int
    other: int
    staff: int
    wrong: int
    path: str | None = None
    # A dict with placeholders, or a function of the World returning one (say, a form that
    # needs a token the page would have issued); keep ids as placeholders either way, so the
    # leak test can swap in missing ones.
    json: dict | Callable[[World], dict] | None = None
    form: dict | Callable[[World], dict] | None = None
    # The role whose request the CSRF test replays with good and bad tokens.
    csrf_as: str = "owner"
    # An HTML POST deliberately without CSRF: say why (it then skips the CSRF test).
    csrf_exempt: str | None = None

    def status(self, role: str) -> int:
        return getattr(self, role)


PAY = {"consultation_id": "{consultation}", "payment_method": "gcash"}


def checkout_form(world: World) -> dict:
    """The form the checkout page would have rendered for patient A."""
    with world.app.test_request_context():
        from app.checkout.tokens import current_tokens

        token = current_tokens().mint(world.a.id, world.ids["consultation"])
    return {"payment_method": "gcash", "checkout_token": token}


LOGIN_AS_A = {"email": "{owner_email}", "password": PASSWORD}

# fmt: off
ROUTES: dict[tuple[str, str], Expect] = {
    # (method, rule):                               anon owner other staff wrong
    ("GET", "/"):                              Expect(302, 200, 200, 302, 200),
    ("GET", "/healthz"):                       Expect(200, 200, 200, 200, 200),
    ("GET", "/readyz"):                        Expect(200, 200, 200, 200, 200),
    ("GET", "/login"):                         Expect(200, 302, 302, 302, 302),
    ("POST", "/login"):                        Expect(302, 302, 302, 302, 302, form=LOGIN_AS_A, csrf_as="anon", csrf_exempt="no session to bind a token to: refused cross-site by Fetch Metadata (test_site_headers.py)"),
    ("POST", "/logout"):                       Expect(302, 302, 302, 302, 302),
    ("POST", "/language"):                     Expect(303, 303, 303, 303, 303, form={"locale": "id", "next": "/"}),
    ("POST", "/api/v1/payments"):              Expect(401, 201, 404, 403, 404, json=PAY),
    ("GET", "/api/v1/payments/<int:payment_id>"): Expect(401, 200, 404, 200, 404),
    ("POST", "/api/v1/payments/<int:payment_id>/confirm"): Expect(401, 403, 403, 200, 403, json={"transaction_id": "txn_access_1"}),
    ("POST", "/api/v1/payments/<int:payment_id>/refund"): Expect(401, 403, 403, 409, 403, json={"reason": "test"}),
    ("GET", "/consultations/<int:consultation_id>/checkout"): Expect(302, 200, 404, 403, 200),
    ("POST", "/consultations/<int:consultation_id>/checkout"): Expect(302, 303, 404, 403, 303, form=checkout_form),
    ("GET", "/payments/<int:payment_id>"):    Expect(302, 200, 404, 200, 200),
    ("GET", "/payments/<int:payment_id>/status"): Expect(302, 200, 404, 200, 200),
    ("POST", "/payments/<int:payment_id>/cancel"): Expect(302, 303, 404, 404, 303),
    ("GET", "/favicon.ico"):                   Expect(200, 200, 200, 200, 200),
    ("GET", "/gateway/sandbox/<int:payment_id>"): Expect(302, 200, 404, 200, 200),
    ("POST", "/gateway/sandbox/<int:payment_id>"): Expect(302, 303, 404, 303, 303, form={"approve": "Approve"}),
    ("POST", "/webhooks/gateway"):             Expect(401, 401, 401, 401, 401, json={"id": "evt_unsigned"}),
    ("GET", "/api/v1/openapi.json"):           Expect(200, 200, 200, 200, 200),
    ("GET", "/problems/<slug>"):               Expect(200, 200, 200, 200, 200, path="/problems/payment-exists"),
    ("GET", "/staff/invoices"):                Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/invoices.csv"):            Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/invoices/<number>"):       Expect(302, 403, 403, 200, 403, path="/staff/invoices/{invoice_number}"),
    ("POST", "/staff/invoices/<number>/refund"): Expect(302, 403, 403, 409, 403, path="/staff/invoices/{invoice_number}/refund", form={"reason": "test"}, csrf_as="staff"),
    ("POST", "/staff/invoices/<number>/refund/confirm"): Expect(302, 403, 403, 409, 403, path="/staff/invoices/{invoice_number}/refund/confirm", form={"reason": "test"}, csrf_as="staff"),
    ("POST", "/staff/invoices/<number>/delete"): Expect(302, 403, 403, 409, 403, path="/staff/invoices/{invoice_number}/delete", form={"reason": "test"}, csrf_as="staff"),
    ("GET", "/staff/attention"):               Expect(302, 403, 403, 200, 403),
}
# fmt: on

# Rule arguments filled from the world by name.
ARGUMENTS = {
    "consultation_id": "{consultation}",
    "payment_id": "{payment}",
    "invoice_id": "{invoice}",
}
# JSON APIs authenticate with bearer tokens and machine callers sign webhooks: no CSRF there.
NOT_CSRF_PROTECTED = ("/api/", "/webhooks/")
MISSING_ID = 2**31 - 1
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def discovered_routes(app) -> dict[tuple[str, str], str]:
    """(method, rule) -> endpoint for every route but static files."""
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - IGNORED_METHODS):
            found[(method, rule.rule)] = rule.endpoint
    return found


def test_every_route_is_classified_in_the_access_table(app):
    found = discovered_routes(app)
    unclassified = sorted(set(found) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(found))
    lines = [
        f"    {(method, rule)!r}: Expect(anon, owner, other, staff, wrong),  # {found[(method, rule)]}"
        for method, rule in unclassified
    ]
    assert not unclassified, (
        "Routes missing from ROUTES in tests/integration/test_access.py; add one line each:\n"
        + "\n".join(lines)
    )
    assert not stale, f"ROUTES lists routes that no longer exist: {stale}"


# ---------------------------------------------------------------- the world and the roles


class World:
    """Patient A with a paid and an unpaid consultation, patient B with one, and staff."""

    def __init__(self, app) -> None:
        factory = Factory(app)
        self.app = app
        self.a, self.b, self.staff = factory.patient(), factory.patient(), factory.staff()
        paid = factory.consultation(self.a)
        unpaid = factory.consultation(self.a, fee="1500")
        b_consultation = factory.consultation(self.b)
        created = ApiClient(app).pay(self.a, paid)
        assert created.status_code == 201, created.json
        data = created.json["data"]
        self.ids = {
            "consultation": unpaid.id,
            "paid_consultation": paid.id,
            "payment": data["payment"]["id"],
            "invoice": data["invoice"]["id"],
            "invoice_number": data["invoice"]["invoice_number"],
            "b_consultation": b_consultation.id,
            "owner_email": self.a.email,
        }

    def missing_ids(self) -> dict[str, Any]:
        """The same placeholders, pointing at rows that do not exist."""
        return {k: (MISSING_ID if isinstance(v, int) else v) for k, v in self.ids.items()}

    def client(self, role: str):
        client = self.app.test_client()
        session_user, token_user = {
            "anon": (None, None),
            "owner": (self.a, self.a),
            "other": (self.b, self.b),
            "staff": (self.staff, self.staff),
            "wrong": (self.a, self.b),
        }[role]
        if session_user is not None:
            with client.session_transaction() as session:
                session["_user_id"] = session_user.session_token
                session["_fresh"] = True
        headers = auth(token_user) if token_user is not None else {}
        return client, headers


def fill(value: Any, ids: dict[str, Any]) -> Any:
    """Replace ``{name}`` placeholders; a value that is only a placeholder keeps its type."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        return ids[whole.group(1)] if whole else value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def path_for(rule: str, expect: Expect) -> str:
    if expect.path is not None:
        return expect.path

    def argument(match: re.Match) -> str:
        name = match.group(1)
        assert name in ARGUMENTS, f"{rule}: no placeholder for <{name}>; give Expect(path=...)"
        return ARGUMENTS[name]

    return re.sub(r"<(?:\w+:)?(\w+)>", argument, rule)


def send(world: World, role: str, method: str, rule: str, ids: dict[str, Any] | None = None):
    expect = ROUTES[(method, rule)]
    ids = ids or world.ids
    client, headers = world.client(role)
    kwargs: dict[str, Any] = {"headers": headers}
    if expect.json is not None:
        kwargs["json"] = payload(expect.json, world, ids)
    if expect.form is not None:
        kwargs["data"] = payload(expect.form, world, ids)
    return client.open(fill(path_for(rule, expect), ids), method=method, **kwargs)


def payload(value, world: World, ids: dict[str, Any]) -> dict:
    return fill(value(world) if callable(value) else value, ids)


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
