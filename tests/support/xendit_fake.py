"""A Xendit stand-in on loopback HTTP, built from Xendit's public API reference.

What it serves, and the pages it follows:

- ``POST /sessions``, ``GET /sessions/{id}``, ``POST /sessions/{id}/cancel`` (a session is
  ACTIVE, COMPLETED, EXPIRED or CANCELED; cancel "cancels an ACTIVE Session"):
  https://docs.xendit.co/apidocs/create-session, https://docs.xendit.co/apidocs/get-session,
  https://docs.xendit.co/apidocs/cancel-session, https://docs.xendit.co/docs/payment-1
- ``GET /refunds/{id}`` (getRefund in the same SDK page as below): the refund as it stands now
- ``POST /refunds`` (``payment_request_id`` required, ``amount`` at least 0, reasons
  FRAUDULENT / DUPLICATE / REQUESTED_BY_CUSTOMER / CANCELLATION / OTHERS, answered
  PENDING, the outcome by webhook): https://docs.xendit.co/apidocs/refund-payment-request;
  the ``idempotency-key`` header as Xendit's generated SDKs send it
  (https://github.com/xendit/xendit-php/blob/master/docs/RefundApi.md)
- webhook bodies ``{"event", "business_id", "created", "data"}``:
  https://docs.xendit.co/apidocs/webhook-notification-sent-defined-webhook-url-updates-payment-session,
  https://docs.xendit.co/apidocs/payment-webhook-notification,
  https://docs.xendit.co/apidocs/refund-webhook-notification
- the static ``x-callback-token`` header: https://docs.xendit.co/api-integration/callback/setup
- duplicates and out-of-order delivery are documented
  (https://docsv2.xendit.co/v1/docs/handling-webhooks): the ``delivery`` knob plays both.

Where the pages are silent the fake chooses, and says so: a repeated ``idempotency-key``
answers the first refund again without acting; a payment made in a session carries no
``metadata`` of ours; paying emits ``payment.capture`` then ``payment_session.completed``;
cancelling a session that is not ACTIVE is a 400; an unknown id is a 404
``DATA_NOT_FOUND``; refund bodies are sent un-nested (``data`` is the refund).

The loopback server, the fault knobs (``fail_next``: 5xx before or after acting, or hang
after acting) and the delivery knobs (``delivery``: events duplicated, reversed, late or
lost) are the PayMongo fake's, inherited; ``bad_token`` sends a wrong callback token and
``refund_outcome`` FAILED ends refunds with ``refund.failed``.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from werkzeug.datastructures import Authorization
from werkzeug.wrappers import Request, Response

from app.gateway.xendit import CALLBACK_TOKEN_HEADER, IDEMPOTENCY_HEADER
from tests.support.paymongo_fake import Notification, PayMongoFake

SECRET_KEY = "xnd_development_fake000000000000000000"
CALLBACK_TOKEN = "xendit-fake-callback-token-000000000000"
BUSINESS_ID = "fakebusiness0000000000000"
CHANNEL = "GCASH"
REFUND_REASONS = {"FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS"}
#: The example session's life on the one-time payment page (created 03:35, expires 04:05).
SESSION_LIFE = timedelta(minutes=30)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


@dataclass
class XenditFake(PayMongoFake):
    secret_key: str = SECRET_KEY
    callback_token: str = CALLBACK_TOKEN
    #: Send a wrong x-callback-token with every webhook.
    bad_token: bool = False
    #: How a refund ends after its PENDING answer: SUCCEEDED, FAILED (refund.failed), or
    #: PENDING: it stays pending, with no webhook, until ``settle_refund``.
    refund_outcome: str = "SUCCEEDED"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.payments: dict[str, dict[str, Any]] = {}  # by payment_request_id
        self.answered_keys: dict[str, dict[str, Any]] = {}  # idempotency-key → refund

    # --- reads for tests -------------------------------------------------------------------

    def refunds_of(self, payment_request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds.values() if r["payment_request_id"] == payment_request_id]

    # --- the hosted page's actions, and Xendit's own ----------------------------------------

    def pay(self, session_id: str, channel: str = CHANNEL) -> dict[str, Any]:
        """Pay the session as the patient would; the payment (``payment_request_id`` …).

        Emits ``payment.capture`` then ``payment_session.completed``. Paying a session that
        is not ACTIVE is refused (ValueError).
        """
        with self._lock:
            found = self._active(session_id)
            payment = {
                "payment_id": _id("py"),
                "payment_request_id": _id("pr"),
                "business_id": BUSINESS_ID,
                "status": "SUCCEEDED",
                "request_amount": found["amount"],
                "channel_code": channel,
                "country": "PH",
                "currency": "PHP",
                "reference_id": found["reference_id"],
                "type": "SINGLE_PAYMENT",
                "created": _now(),
                "updated": _now(),
            }
            self.payments[payment["payment_request_id"]] = payment
            found.update(
                status="COMPLETED",
                payment_request_id=payment["payment_request_id"],
                updated=_now(),
            )
            completed = {**found, "payment_id": payment["payment_id"]}
            notes = [
                self._event("payment.capture", payment, payment["payment_id"]),
                self._event("payment_session.completed", completed, session_id),
            ]
        self._deliver(notes)
        return payment

    def fail_attempt(self, session_id: str, channel: str = CHANNEL) -> None:
        """A failed attempt: ``payment.failure``; the session stays ACTIVE."""
        with self._lock:
            found = self._active(session_id)
            failure = {
                "payment_id": _id("py"),
                "payment_request_id": _id("pr"),
                "status": "FAILED",
                "request_amount": found["amount"],
                "channel_code": channel,
                "currency": "PHP",
                "failure_code": "INSUFFICIENT_BALANCE",
            }
            notes = [self._event("payment.failure", failure, failure["payment_id"])]
        self._deliver(notes)

    def expire(self, session_id: str) -> None:
        """The session's ``expires_at`` passed: EXPIRED, and ``payment_session.expired``."""
        with self._lock:
            found = self._active(session_id)
            found.update(status="EXPIRED", updated=_now())
            notes = [self._event("payment_session.expired", dict(found), session_id)]
        self._deliver(notes)

    # --- HTTP ------------------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/sessions" and method == "POST":
            return self._create_session(_body(request))
        match = re.fullmatch(r"/sessions/(ps-[0-9a-f]+)(/cancel)?", path)
        if match and method == "GET" and not match.group(2):
            found = self.sessions.get(match.group(1))
            return _json(found) if found else _error(404, "DATA_NOT_FOUND", "No such session.")
        if match and method == "POST" and match.group(2):
            return self._cancel(match.group(1))
        if path == "/refunds" and method == "POST":
            return self._create_refund(_body(request), request.headers.get(IDEMPOTENCY_HEADER))
        refund = re.fullmatch(r"/refunds/(rfd-[0-9a-f]+)", path)
        if refund and method == "GET":
            found = self.refunds.get(refund.group(1))
            return _json(found) if found else _error(404, "DATA_NOT_FOUND", "No such refund.")
        return _error(404, "NOT_FOUND", f"No route {method} {path}.")

    def _create_session(self, body: dict[str, Any] | None) -> Response:
        problem = _session_problem(body)
        if problem:
            return _error(400, "API_VALIDATION_ERROR", problem)
        session_id = _id("ps")
        now = datetime.now(UTC)
        found = {
            "payment_session_id": session_id,
            "created": _now(),
            "updated": _now(),
            "status": "ACTIVE",
            "reference_id": body["reference_id"],
            "currency": "PHP",
            "amount": body["amount"],
            "country": "PH",
            "expires_at": (now + SESSION_LIFE).isoformat().replace("+00:00", "Z"),
            "session_type": "PAY",
            "mode": "PAYMENT_LINK",
            "locale": "en",
            "business_id": BUSINESS_ID,
            "description": body.get("description"),
            "success_return_url": body["success_return_url"],
            "cancel_return_url": body["cancel_return_url"],
            "metadata": body.get("metadata"),
            "payment_link_url": f"{self.base_url}/checkout/{session_id}",
            "payment_request_id": None,
            "payment_token_id": None,
        }
        with self._lock:
            self.sessions[session_id] = found
        return _json(found)

    def _cancel(self, session_id: str) -> Response:
        with self._lock:
            found = self.sessions.get(session_id)
            if found is None:
                return _error(404, "DATA_NOT_FOUND", "No such session.")
            if found["status"] != "ACTIVE":
                return _error(400, "INVALID_STATUS", f"The session is {found['status']}.")
            found.update(status="CANCELED", updated=_now())
        return _json(found)

    def _create_refund(self, body: dict[str, Any] | None, key: str | None) -> Response:
        with self._lock:
            if key and key in self.answered_keys:
                return _json(self.answered_keys[key])
            problem, payment = self._refund_problem(body)
            if problem:
                return _error(400, "API_VALIDATION_ERROR", problem)
            amount = body.get("amount", payment["request_amount"])
            refund = {
                "id": _id("rfd"),
                "payment_request_id": payment["payment_request_id"],
                "payment_id": payment["payment_id"],
                "invoice_id": None,
                "amount": amount,
                "channel_code": payment["channel_code"],
                "currency": "PHP",
                "status": "PENDING",
                "reason": body["reason"],
                "reference_id": body.get("reference_id"),
                "failure_code": None,
                "refund_fee_amount": None,
                "created": _now(),
                "updated": _now(),
                "metadata": body.get("metadata"),
            }
            self.refunds[refund["id"]] = refund
            answer = dict(refund)
            if key:
                self.answered_keys[key] = answer
            notes = [] if self.refund_outcome == "PENDING" else [self._settle(refund)]
        self._deliver(notes)
        return _json(answer)

    def settle_refund(self, refund_id: str, outcome: str) -> None:
        """End a refund left ``PENDING`` (``refund_outcome`` PENDING) with ``outcome``
        (SUCCEEDED or FAILED), and send its webhook."""
        with self._lock:
            note = self._settle(self.refunds[refund_id], outcome)
        self._deliver([note])

    def _settle(self, refund: dict[str, Any], outcome: str | None = None) -> Any:
        outcome = outcome or self.refund_outcome
        failed = outcome == "FAILED"
        refund.update(
            status=outcome,
            failure_code="INSUFFICIENT_BALANCE" if failed else None,
            updated=_now(),
        )
        kind = "refund.failed" if failed else "refund.succeeded"
        return self._event(kind, dict(refund), refund["id"])

    def _refund_problem(self, body: dict[str, Any] | None) -> tuple[str, Any]:
        if body is None:
            return "The body must be a JSON object.", None
        payment = self.payments.get(body.get("payment_request_id"))
        if payment is None:
            return "payment_request_id is not a succeeded payment request.", None
        if body.get("reason") not in REFUND_REASONS:
            return "reason is not one of Xendit's refund reasons.", None
        amount = body.get("amount", payment["request_amount"])
        if not _pesos(amount) or amount <= 0:
            return "amount must be a positive number with at most two decimals.", None
        refunded = sum(r["amount"] for r in self.refunds_of(payment["payment_request_id"]))
        if amount > payment["request_amount"] - refunded:
            return "amount is more than what is left to refund.", None
        return "", payment

    def _hosted_page(self, request: Request) -> Response:
        match = re.fullmatch(r"/checkout/(ps-[0-9a-f]+)(/pay)?", request.path)
        found = self.sessions.get(match.group(1)) if match else None
        if found is None:
            return Response("No such payment link.", status=404)
        if request.method == "POST" and match.group(2):
            try:
                self.pay(found["payment_session_id"], request.form.get("channel") or CHANNEL)
            except ValueError as error:
                return Response(str(error), status=409)
            return Response(status=303, headers={"Location": found["success_return_url"]})
        return Response(_page(found), content_type="text/html; charset=utf-8")

    # --- inside ----------------------------------------------------------------------------

    def _authorized(self, auth: Authorization | None) -> bool:
        return auth is not None and auth.type == "basic" and auth.username == self.secret_key

    def _active(self, session_id: str) -> dict[str, Any]:
        found = self.sessions.get(session_id)
        if found is None:
            raise ValueError(f"No session {session_id}.")
        if found["status"] != "ACTIVE":
            raise ValueError(f"This session is {found['status'].lower()}.")
        return found

    def _event(self, kind: str, data: dict[str, Any], object_id: str) -> Notification:
        body = json.dumps(
            {"event": kind, "business_id": BUSINESS_ID, "created": _now(), "data": data},
            default=_number,
        ).encode()
        return Notification(f"{kind}:{object_id}", kind, body, self.signed_headers(body))

    def signed_headers(self, body: bytes, **_: Any) -> dict[str, str]:
        """Headers Xendit sends with ``body``: its callback token (a wrong one when ``bad_token``)."""
        token = "not-the-callback-token" if self.bad_token else self.callback_token
        return {"Content-Type": "application/json", CALLBACK_TOKEN_HEADER: token}


def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(request.get_data(), parse_float=Decimal)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _pesos(value: Any) -> bool:
    """A JSON number of pesos with at most two decimals (read exactly)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return False
    return value >= 0 and value == round(Decimal(value), 2)


def _session_problem(body: dict[str, Any] | None) -> str:
    if body is None:
        return "The body must be a JSON object."
    expected = {"session_type": "PAY", "mode": "PAYMENT_LINK", "currency": "PHP", "country": "PH"}
    for name, value in expected.items():
        if body.get(name) != value:
            return f"{name} must be {value} here."
    reference = body.get("reference_id")
    if not isinstance(reference, str) or not 1 <= len(reference) <= 255:
        return "reference_id must be 1 to 255 characters."
    if not _pesos(body.get("amount")) or body["amount"] <= 0:
        return "amount must be a positive number of pesos with at most two decimals."
    for name in ("success_return_url", "cancel_return_url"):
        if not isinstance(body.get(name), str):
            return f"{name} is required."
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        return "metadata values must be strings."
    return ""


def _page(found: dict[str, Any]) -> str:
    """The hosted page: the amount, a channel choice and one Pay button."""
    session_id = found["payment_session_id"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Xendit (fake) payment link</title></head><body><main>"
        f"<h1>Pay {html.escape(found['reference_id'])}</h1>"
        f"<p>₱{Decimal(found['amount']):,.2f}</p>"
        f'<form method=post action="/checkout/{session_id}/pay">'
        "<label for=channel>Channel</label><select id=channel name=channel>"
        "<option>GCASH</option><option>PAYMAYA</option><option>CARDS</option></select>"
        "<button type=submit>Pay</button></form>"
        f'<p><a href="{html.escape(found["cancel_return_url"])}">Cancel</a></p>'
        "</main></body></html>"
    )


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body, default=_number), status=status, content_type="application/json"
    )


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error_code": code, "message": message}, status)


@pytest.fixture
def xendit_fake():
    """A started ``XenditFake`` on a free loopback port, stopped after the test."""
    fake = XenditFake().start()
    yield fake
    fake.stop()
