"""A PayMongo stand-in on loopback HTTP, built from PayMongo's public documentation.

What it serves, and the pages it follows:

- ``POST /v1/checkout_sessions``, ``GET /v1/checkout_sessions/{id}``,
  ``POST /v1/checkout_sessions/{id}/expire``:
  https://developers.paymongo.com/docs/checkout-implementation,
  https://developers.paymongo.com/reference/checkout-session-resource
- ``POST /v1/refunds``, ``GET /v1/refunds?payment_id=…``:
  https://developers.paymongo.com/reference/refund-resource (amount ≥ 100 centavos, at
  most what is left of the payment; reasons duplicate / fraudulent /
  requested_by_customer / others)
- payment resources inside a session (amount, fee, net_amount, source.type, status,
  paid_at): https://developers.paymongo.com/reference/payment-source
- events ``{"data": {"id": "evt_…", "type": "event", "attributes": {"type",
  "livemode", "created_at", "data"}}}``:
  https://developers.paymongo.com/docs/developer-tools-webhooks-events
- ``Paymongo-Signature: t=…,te=…,li=…``: https://developers.paymongo.com/docs/securing-webhook
- HTTP Basic auth with the secret key and no password:
  https://developers.paymongo.com/docs/payment-channels-hosted-checkout-quick-start

Where the docs are silent the fake chooses, and says so: a session's payments carry
no metadata of ours (the documented payment resource shows none), so only the
checkout session's own event names our payment; a failed attempt leaves the
session payable; expiring a paid session is a 400.

It also plays the hosted page (``GET /checkout/{id}``: a minimal HTML form; ``pay``
does what paying there does) and sends signed webhooks, with fault knobs for tests:
``fail_next`` (5xx before or after acting, or hang after acting), ``delivery`` (events
duplicated, reversed, late or lost), ``bad_signature`` and ``create_latency`` (every
session create answered that many seconds late, as a slow provider would).
"""

from __future__ import annotations

import enum
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from werkzeug.datastructures import Authorization
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.gateway import paymongo_signing

SECRET_KEY = "sk_test_fake0000000000000000000000"
WEBHOOK_SECRET = "whsk_fake0000000000000000000000000"
# Our per-payment fee: 2.5% of the amount plus ₱15 (a stand-in; PayMongo's rates vary by method).
FEE_RATE_PER_MILLE, FEE_FIXED = 25, 1500
METHOD_TYPES = {"card", "gcash", "paymaya", "grab_pay", "qrph", "dob", "dob_ubp", "billease"}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer", "others"}


class Delivery(enum.StrEnum):
    """How the fake delivers the events an action makes."""

    NORMAL = "normal"
    DUPLICATED = "duplicated"  # every event twice
    REVERSED = "reversed"  # last made, first sent
    LATE = "late"  # held until ``release_late``
    LOST = "lost"  # never sent (PayMongo never re-sends a missed event)


class FaultKind(enum.StrEnum):
    ERROR_BEFORE = "error_before"  # answer ``status`` without acting
    ERROR_AFTER = "error_after"  # act, then answer ``status``
    HANG_AFTER = "hang_after"  # act, then answer only after ``hang_seconds``


@dataclass
class Fault:
    method: str
    path: str  # a regular expression matched against the whole path
    kind: FaultKind
    status: int = 500
    times: int = 1


@dataclass(frozen=True)
class Notification:
    event_id: str
    kind: str
    body: bytes
    headers: dict[str, str]


@dataclass
class PayMongoFake:
    secret_key: str = SECRET_KEY
    webhook_secret: str = WEBHOOK_SECRET
    hang_seconds: float = 3.0
    #: Seconds each ``POST /v1/checkout_sessions`` takes before it acts and answers (0: at once).
    create_latency: float = 0.0
    delivery: Delivery = Delivery.NORMAL
    bad_signature: bool = False
    #: Where signed events go: a URL (POSTed with httpx) or a callable(body, headers).
    webhook_url: str | None = None
    webhook_sink: Callable[[bytes, dict[str, str]], Any] | None = None
    #: Status a new refund is created with (PayMongo: pending, processing, succeeded, failed).
    refund_status: str = "succeeded"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    sent: list[Notification] = field(default_factory=list)
    held: list[Notification] = field(default_factory=list)
    lost: list[Notification] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    #: ``time.monotonic()`` when each session create was answered, in order.
    creates_answered_at: list[float] = field(default_factory=list)
    base_url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._server = None

    # --- running ----------------------------------------------------------------------

    def start(self) -> PayMongoFake:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- knobs and reads for tests ------------------------------------------------------

    def fail_next(
        self, method: str, path: str, kind: FaultKind, *, status: int = 500, times: int = 1
    ) -> None:
        """The next ``times`` requests matching ``method`` and ``path`` (a regex) misbehave."""
        with self._lock:
            self.faults.append(Fault(method, path, kind, status, times))

    def calls(self, method: str, path: str) -> int:
        """How many requests matched ``method`` and the regex ``path``."""
        return sum(1 for m, p in self.requests if m == method and re.fullmatch(path, p))

    def refunds_of(self, payment_id: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds.values() if r["attributes"]["payment_id"] == payment_id]

    def release_late(self) -> list[Any]:
        """Send the held (late) events now, in the order they were made."""
        with self._lock:
            held, self.held = self.held, []
        return [self._send(n) for n in held]

    # --- the hosted page's actions ------------------------------------------------------

    def pay(self, session_id: str, method: str | None = None) -> dict[str, Any]:
        """Pay the session as the patient would on the hosted page; its payment resource.

        Emits ``checkout_session.payment.paid`` then ``payment.paid`` (delivered per
        ``delivery``). Paying an expired or already paid session is refused (ValueError).
        """
        with self._lock:
            session = self._open_session(session_id)
            attributes = session["attributes"]
            payment = self._payment(attributes, method, status="paid")
            attributes["payments"].append(payment)
            attributes["payment_intent"]["attributes"]["status"] = "succeeded"
            notes = [
                self._event("checkout_session.payment.paid", session),
                self._event("payment.paid", payment),
            ]
        self._deliver(notes)
        return payment

    def fail_attempt(self, session_id: str, method: str | None = None) -> dict[str, Any]:
        """A declined attempt on the hosted page: the session stays payable."""
        with self._lock:
            attributes = self._open_session(session_id)["attributes"]
            payment = self._payment(attributes, method, status="failed")
            attributes["payments"].append(payment)
            notes = [self._event("payment.failed", payment)]
        self._deliver(notes)
        return payment

    # --- HTTP -----------------------------------------------------------------------------

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        with self._lock:
            self.requests.append((request.method, request.path))
            fault = self._take_fault(request.method, request.path)
        if fault is not None and fault.kind is FaultKind.ERROR_BEFORE:
            return _error(fault.status, "fault", "The fake failed before acting.")
        if request.path.startswith("/checkout/"):
            response = self._hosted_page(request)
        elif not self._authorized(request.authorization):
            response = _error(401, "unauthorized", "API key is invalid.")
        else:
            response = self._api(request)
        if fault is not None and fault.kind is FaultKind.HANG_AFTER:
            time.sleep(self.hang_seconds)
        if fault is not None and fault.kind is FaultKind.ERROR_AFTER:
            return _error(fault.status, "fault", "The fake failed after acting.")
        return response

    def _api(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/v1/checkout_sessions" and method == "POST":
            if self.create_latency:
                time.sleep(self.create_latency)
            response = self._create_session(_attributes(request))
            with self._lock:
                self.creates_answered_at.append(time.monotonic())
            return response
        match = re.fullmatch(r"/v1/checkout_sessions/(cs_\w+)(/expire)?", path)
        if match and method == "GET" and not match.group(2):
            return self._found(self.sessions.get(match.group(1)))
        if match and method == "POST" and match.group(2):
            return self._expire(match.group(1))
        if path == "/v1/refunds" and method == "POST":
            return self._create_refund(_attributes(request))
        if path == "/v1/refunds" and method == "GET":
            payment_id = request.args.get("payment_id", "")
            items = sorted(self.refunds_of(payment_id), key=lambda r: r["attributes"]["created_at"])
            return _json({"data": items, "has_more": False})
        return _error(404, "resource_not_found", f"No route {method} {path}.")

    def _create_session(self, attributes: dict[str, Any] | None) -> Response:
        problem = _session_problem(attributes)
        if problem:
            return _error(400, "parameter_invalid", problem)
        session_id = f"cs_{secrets.token_hex(12)}"
        now = int(time.time())
        session = {
            "id": session_id,
            "type": "checkout_session",
            "attributes": {
                **attributes,
                "checkout_url": f"{self.base_url}/checkout/{session_id}",
                "client_key": f"{session_id}_client_{secrets.token_hex(8)}",
                "livemode": self.secret_key.startswith("sk_live_"),
                "payments": [],
                "payment_intent": {
                    "id": f"pi_{secrets.token_hex(12)}",
                    "type": "payment_intent",
                    "attributes": {"status": "awaiting_payment_method"},
                },
                "status": "active",
                "created_at": now,
                "updated_at": now,
            },
        }
        with self._lock:
            self.sessions[session_id] = session
        return _json({"data": session})

    def _expire(self, session_id: str) -> Response:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return _error(404, "resource_not_found", f"No checkout session {session_id}.")
            attributes = session["attributes"]
            if any(p["attributes"]["status"] == "paid" for p in attributes["payments"]):
                return _error(400, "resource_failed_state", "The checkout session is paid.")
            if attributes["status"] == "expired":
                return _error(400, "resource_failed_state", "The checkout session is expired.")
            attributes["status"] = "expired"
            attributes["updated_at"] = int(time.time())
        return _json({"data": session})

    def _create_refund(self, attributes: dict[str, Any] | None) -> Response:
        with self._lock:
            problem, payment = self._refund_problem(attributes)
            if problem:
                return _error(400, "parameter_invalid", problem)
            now = int(time.time())
            refund = {
                "id": f"ref_{secrets.token_hex(12)}",
                "type": "refund",
                "attributes": {
                    "amount": attributes["amount"],
                    "currency": "PHP",
                    "livemode": payment["attributes"]["livemode"],
                    "notes": attributes.get("notes"),
                    "payment_id": payment["id"],
                    "payout_id": None,
                    "reason": attributes["reason"],
                    "status": self.refund_status,
                    "metadata": attributes.get("metadata"),
                    "created_at": now,
                    "updated_at": now,
                },
            }
            self.refunds[refund["id"]] = refund
            payment["attributes"].setdefault("refunds", []).append(refund)
            notes = [self._event("payment.refund.updated", refund)]
            if self._refunded_total(payment) == payment["attributes"]["amount"]:
                payment["attributes"]["status"] = "refunded"
                notes.append(self._event("payment.refunded", payment))
        self._deliver(notes)
        return _json({"data": refund})

    def settle_refund(self, refund_id: str, status: str) -> None:
        """Move a refund made while ``refund_status`` was pending to ``status`` (succeeded or
        failed) and send ``payment.refund.updated``, as PayMongo does when a refund's status
        changes (https://developers.paymongo.com/docs/webhooks)."""
        with self._lock:
            refund = self.refunds[refund_id]
            refund["attributes"].update(status=status, updated_at=int(time.time()))
            notes = [self._event("payment.refund.updated", refund)]
        self._deliver(notes)

    def _refund_problem(self, attributes: dict[str, Any] | None) -> tuple[str, Any]:
        if not isinstance(attributes, dict):
            return "data.attributes is required.", None
        payment = self._find_payment(attributes.get("payment_id"))
        amount = attributes.get("amount")
        metadata = attributes.get("metadata") or {}
        if payment is None or payment["attributes"]["status"] not in ("paid", "refunded"):
            return "payment_id is not a paid payment.", None
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 100:
            return "amount must be a whole number of centavos, at least 100.", None
        if amount > payment["attributes"]["amount"] - self._refunded_total(payment):
            return "amount is more than what is left to refund.", None
        if attributes.get("reason") not in REFUND_REASONS:
            return "reason is not one of PayMongo's refund reasons.", None
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            return "metadata values must be strings.", None
        return "", payment

    def _refunded_total(self, payment: dict[str, Any]) -> int:
        return sum(
            r["attributes"]["amount"]
            for r in payment["attributes"].get("refunds", [])
            if r["attributes"]["status"] != "failed"
        )

    def _hosted_page(self, request: Request) -> Response:
        match = re.fullmatch(r"/checkout/(cs_\w+)(/pay)?", request.path)
        session = self.sessions.get(match.group(1)) if match else None
        if session is None:
            return Response("No such checkout.", status=404)
        attributes = session["attributes"]
        if request.method == "POST" and match.group(2):
            try:
                self.pay(session["id"], request.form.get("method"))
            except ValueError as error:
                return Response(str(error), status=409)
            return Response(status=303, headers={"Location": attributes["success_url"]})
        return Response(_page(session), content_type="text/html; charset=utf-8")

    # --- inside ---------------------------------------------------------------------------

    def _authorized(self, auth: Authorization | None) -> bool:
        return auth is not None and auth.type == "basic" and auth.username == self.secret_key

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and re.fullmatch(fault.path, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _found(self, resource: dict[str, Any] | None) -> Response:
        if resource is None:
            return _error(404, "resource_not_found", "No such resource.")
        return _json({"data": resource})

    def _open_session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise ValueError(f"No checkout session {session_id}.")
        attributes = session["attributes"]
        if attributes["status"] == "expired":
            raise ValueError("This checkout session has expired.")
        if any(p["attributes"]["status"] == "paid" for p in attributes["payments"]):
            raise ValueError("This checkout session is already paid.")
        return session

    def _payment(self, session: dict[str, Any], method: str | None, *, status: str) -> dict:
        amount = sum(item["amount"] * item["quantity"] for item in session["line_items"])
        method = method or session["payment_method_types"][0]
        if method not in session["payment_method_types"]:
            raise ValueError(f"{method} is not offered by this checkout session.")
        fee = amount * FEE_RATE_PER_MILLE // 1000 + FEE_FIXED if status == "paid" else 0
        now = int(time.time())
        return {
            "id": f"pay_{secrets.token_hex(12)}",
            "type": "payment",
            "attributes": {
                "amount": amount,
                "currency": "PHP",
                "description": session.get("description"),
                "fee": fee,
                "net_amount": amount - fee,
                "livemode": session["livemode"],
                "payment_intent_id": session["payment_intent"]["id"],
                "source": {"id": f"src_{secrets.token_hex(8)}", "type": method},
                "status": status,
                "failed_code": "card_declined" if status == "failed" else None,
                "refunds": [],
                "created_at": now,
                "paid_at": now if status == "paid" else None,
                "updated_at": now,
            },
        }

    def _find_payment(self, payment_id: Any) -> dict[str, Any] | None:
        for session in self.sessions.values():
            for payment in session["attributes"]["payments"]:
                if payment["id"] == payment_id:
                    return payment
        return None

    def _event(self, kind: str, resource: dict[str, Any]) -> Notification:
        now = int(time.time())
        event_id = f"evt_{secrets.token_hex(12)}"
        livemode = self.secret_key.startswith("sk_live_")
        body = json.dumps(
            {
                "data": {
                    "id": event_id,
                    "type": "event",
                    "attributes": {
                        "type": kind,
                        "livemode": livemode,
                        "data": json.loads(json.dumps(resource)),
                        "previous_data": {},
                        "created_at": now,
                        "updated_at": now,
                    },
                }
            }
        ).encode()
        return Notification(event_id, kind, body, self.signed_headers(body, livemode=livemode))

    def signed_headers(
        self, body: bytes, *, livemode: bool = False, timestamp: int | None = None
    ) -> dict[str, str]:
        """Headers PayMongo sends with ``body``; a wrong secret when ``bad_signature``."""
        secret = "not-the-secret" if self.bad_signature else self.webhook_secret
        mode = paymongo_signing.Mode.LIVE if livemode else paymongo_signing.Mode.TEST
        header = paymongo_signing.sign(secret, body, mode=mode, timestamp=timestamp)
        return {"Content-Type": "application/json", paymongo_signing.HEADER: header}

    def _deliver(self, notes: list[Notification]) -> None:
        if self.delivery is Delivery.REVERSED:
            notes = list(reversed(notes))
        elif self.delivery is Delivery.DUPLICATED:
            notes = [n for note in notes for n in (note, note)]
        elif self.delivery is Delivery.LATE:
            with self._lock:
                self.held.extend(notes)
            return
        elif self.delivery is Delivery.LOST:
            with self._lock:
                self.lost.extend(notes)
            return
        for note in notes:
            self._send(note)

    def _send(self, note: Notification) -> Any:
        with self._lock:
            self.sent.append(note)
        if self.webhook_sink is not None:
            return self.webhook_sink(note.body, note.headers)
        if self.webhook_url is not None:
            return httpx.post(self.webhook_url, content=note.body, headers=note.headers, timeout=10)
        return None


def _attributes(request: Request) -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    data = body.get("data") if isinstance(body, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    return attributes if isinstance(attributes, dict) else None


def _session_problem(attributes: dict[str, Any] | None) -> str:
    if attributes is None:
        return "data.attributes is required."
    items = attributes.get("line_items")
    if not isinstance(items, list) or not items:
        return "line_items is required."
    for item in items:
        amount, quantity = item.get("amount"), item.get("quantity")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            return "line_items amount must be a positive whole number of centavos."
        if item.get("currency") != "PHP" or not isinstance(quantity, int) or quantity < 1:
            return "line_items need currency PHP and a positive quantity."
        if not isinstance(item.get("name"), str):
            return "line_items need a name."
    types = attributes.get("payment_method_types")
    if not isinstance(types, list) or not types or not set(types) <= METHOD_TYPES:
        return "payment_method_types must list PayMongo payment method types."
    for name in ("success_url", "cancel_url"):
        if not isinstance(attributes.get(name), str):
            return f"{name} is required."
    metadata = attributes.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        return "metadata values must be strings."
    return ""


def _page(session: dict[str, Any]) -> str:
    """The hosted page: the line items, the method choice and one Pay button."""
    attributes = session["attributes"]
    items = "".join(
        f"<li>{html.escape(i['name'])}: ₱{i['amount'] * i['quantity'] / 100:,.2f}</li>"
        for i in attributes["line_items"]
    )
    options = "".join(
        f'<option value="{html.escape(t)}">{html.escape(t)}</option>'
        for t in attributes["payment_method_types"]
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>PayMongo (fake) checkout</title></head><body><main>"
        f"<h1>Pay {html.escape(str(attributes.get('reference_number') or ''))}</h1>"
        f"<ul>{items}</ul>"
        f'<form method=post action="/checkout/{session["id"]}/pay">'
        f"<label for=method>Method</label><select id=method name=method>{options}</select>"
        "<button type=submit>Pay</button></form>"
        f'<p><a href="{html.escape(attributes["cancel_url"])}">Cancel</a></p>'
        "</main></body></html>"
    )


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, code: str, detail: str) -> Response:
    return _json({"errors": [{"code": code, "detail": detail}]}, status)


@pytest.fixture
def paymongo_fake():
    """A started ``PayMongoFake`` on a free loopback port, stopped after the test."""
    fake = PayMongoFake().start()
    yield fake
    fake.stop()
