"""The access table: every route, the status each role gets on it, and the world it runs in.

``tests/integration/test_access.py`` walks it (authorization and CSRF); the header tests
walk it too. Adding a route is one line in ``ROUTES``; a route missing from it fails
``test_every_route_is_classified_in_the_access_table`` with ready-to-paste lines.
Roles and placeholders: see that test module's docstring.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory, auth

ROLES = ("anon", "owner", "other", "cashier", "staff", "wrong")


@dataclass(frozen=True)
class Expect:
    """The status each role gets, and the request to send (with CSRF off). ``staff`` is a
    manager; ``cashier`` gets the manager's status unless given."""

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
    cashier: int | None = None

    def status(self, role: str) -> int:
        if role == "cashier" and self.cashier is None:
            return self.staff
        return getattr(self, role)


PAY = {"consultation_id": "{consultation}", "payment_method": "gcash"}


def checkout_form(world: World) -> dict:
    """The form the checkout page would have rendered for patient A."""
    with world.app.test_request_context():
        from app.checkout.tokens import current_tokens

        token = current_tokens().mint(world.a.id, world.ids["consultation"])
    return {"payment_method": "gcash", "checkout_token": token}


LOGIN_AS_A = {"email": "{owner_email}", "password": PASSWORD}


def new_cashier(world: World) -> dict:
    """A new account the manager's form creates (a fresh email each time it is sent)."""
    return {
        "name": "New Cashier",
        "email": f"cashier-{next(_new_accounts)}@example.test",
        "role": "cashier",
        "password": PASSWORD,
    }


_new_accounts = itertools.count(1)
NEW_CASHIER = new_cashier

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
    ("POST", "/api/v1/payments/<int:payment_id>/refund"): Expect(401, 403, 403, 409, 403, json={"reason": "test"}, cashier=403),
    ("GET", "/consultations/<int:consultation_id>/checkout"): Expect(302, 200, 404, 403, 200),
    ("POST", "/consultations/<int:consultation_id>/checkout"): Expect(302, 303, 404, 403, 303, form=checkout_form),
    ("GET", "/payments/<int:payment_id>"):    Expect(302, 200, 404, 200, 200),
    ("GET", "/payments/<int:payment_id>/status"): Expect(302, 200, 404, 200, 200),
    ("GET", "/payments/<int:payment_id>/continue"): Expect(302, 303, 404, 303, 303),
    ("POST", "/payments/<int:payment_id>/cancel"): Expect(302, 303, 404, 404, 303),
    ("GET", "/favicon.ico"):                   Expect(200, 200, 200, 200, 200),
    ("GET", "/gateway/sandbox/<int:payment_id>"): Expect(302, 200, 404, 200, 200),
    ("POST", "/gateway/sandbox/<int:payment_id>"): Expect(302, 303, 404, 303, 303, form={"approve": "Approve"}),
    # 404 unless PAYMENT_PROVIDER=paymongo (the access world runs the sandbox).
    ("POST", "/webhooks/paymongo"):            Expect(404, 404, 404, 404, 404, json={"id": "evt_unsigned"}),
    # 404 unless PAYMENT_PROVIDER=xendit.
    ("POST", "/webhooks/xendit"):              Expect(404, 404, 404, 404, 404, json={"event": "unsigned"}),
    ("POST", "/webhooks/gateway"):             Expect(401, 401, 401, 401, 401, json={"id": "evt_unsigned"}),
    ("GET", "/api/v1/openapi.json"):           Expect(200, 200, 200, 200, 200),
    ("GET", "/problems/<slug>"):               Expect(200, 200, 200, 200, 200, path="/problems/payment-exists"),
    ("GET", "/staff/invoices"):                Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/invoices.csv"):            Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/invoices/<number>"):       Expect(302, 403, 403, 200, 403, path="/staff/invoices/{invoice_number}"),
    ("POST", "/staff/invoices/<number>/refund"): Expect(302, 403, 403, 303, 403, path="/staff/invoices/{invoice_number}/refund", form={"reason": "test"}, csrf_as="staff", cashier=403),
    ("POST", "/staff/invoices/<number>/refund/confirm"): Expect(302, 403, 403, 303, 403, path="/staff/invoices/{invoice_number}/refund/confirm", form={"reason": "test"}, csrf_as="staff", cashier=403),
    # Nothing asked to refund yet: back to the invoice.
    ("GET", "/staff/invoices/<number>/refund/confirm"): Expect(302, 403, 403, 302, 403, path="/staff/invoices/{invoice_number}/refund/confirm", cashier=403),
    ("POST", "/staff/invoices/<number>/delete/confirm"): Expect(302, 403, 403, 303, 403, path="/staff/invoices/{invoice_number}/delete/confirm", form={"reason": "test"}, csrf_as="staff", cashier=403),
    # Nothing asked to delete yet: back to the invoice.
    ("GET", "/staff/invoices/<number>/delete/confirm"): Expect(302, 403, 403, 302, 403, path="/staff/invoices/{invoice_number}/delete/confirm", cashier=403),
    ("POST", "/staff/invoices/<number>/delete"): Expect(302, 403, 403, 303, 403, path="/staff/invoices/{invoice_number}/delete", form={"reason": "test"}, csrf_as="staff", cashier=403),
    ("GET", "/staff/attention"):               Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/accounts"):                Expect(302, 403, 403, 200, 403, cashier=403),
    ("POST", "/staff/accounts"):               Expect(302, 403, 403, 303, 403, form=NEW_CASHIER, csrf_as="staff", cashier=403),
    ("POST", "/staff/accounts/<int:user_id>/disable"): Expect(302, 403, 403, 303, 403, path="/staff/accounts/{cashier}/disable", csrf_as="staff", cashier=403),
    ("GET", "/staff/accounts/<int:user_id>/reset-2fa"): Expect(302, 403, 403, 200, 403, path="/staff/accounts/{cashier}/reset-2fa", cashier=403),
    ("POST", "/staff/accounts/<int:user_id>/reset-2fa"): Expect(302, 403, 403, 303, 403, path="/staff/accounts/{cashier}/reset-2fa", csrf_as="staff", cashier=403),
    ("GET", "/staff/audit"):                   Expect(302, 403, 403, 200, 403, cashier=403),
    ("GET", "/staff/audit/patients/<int:patient_id>.csv"): Expect(302, 403, 403, 200, 403, path="/staff/audit/patients/{patient}.csv", cashier=403),
    ("GET", "/login/code"):                    Expect(302, 302, 302, 302, 302),
    ("POST", "/login/code"):                   Expect(302, 302, 302, 302, 302, form={"code": "123456"}),
    ("GET", "/account/two-factor"):            Expect(302, 200, 200, 200, 200),
    ("POST", "/account/two-factor"):           Expect(302, 422, 422, 422, 422, form={"code": "000000"}),
    ("GET", "/staff/invoices/<number>.pdf"):   Expect(302, 403, 403, 200, 403, path="/staff/invoices/{invoice_number}.pdf"),
    ("GET", "/staff/discounts"):               Expect(302, 403, 403, 200, 403, cashier=403),
    ("POST", "/staff/discounts"):              Expect(302, 403, 403, 303, 403, form={"email": "{owner_email}", "kind": "pwd", "id_number": "PWD-1", "holder_name": "A B"}, csrf_as="staff", cashier=403),
    ("POST", "/staff/discounts/clear"):        Expect(302, 403, 403, 303, 403, form={"email": "{owner_email}"}, csrf_as="staff", cashier=403),
    ("GET", "/staff/discounts/log"):           Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/discounts/log.csv"):       Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/books"):                   Expect(302, 403, 403, 200, 403),
    ("GET", "/staff/books.csv"):               Expect(302, 403, 403, 200, 403),
    ("POST", "/staff/books/close"):            Expect(302, 403, 403, 303, 403, form={"day": "2026-01-05", "pending_confirmed": "y"}, csrf_as="staff", cashier=403),
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


# ---------------------------------------------------------------- the world and the roles


class World:
    """Patient A with a paid and an unpaid consultation, patient B with one, a cashier and
    a manager (``staff``)."""

    def __init__(self, app) -> None:
        factory = Factory(app)
        self.app = app
        self.a, self.b, self.staff = factory.patient(), factory.patient(), factory.staff()
        self.cashier = factory.cashier()
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
            "patient": self.a.id,
            "cashier": self.cashier.id,
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
            "cashier": (self.cashier, self.cashier),
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
