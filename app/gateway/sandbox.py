"""The sandbox provider: a payment provider inside the app, so the whole flow runs locally.

Its page (``/gateway/sandbox/<payment id>``) stands in for a provider's hosted
checkout. When the patient decides, the sandbox does what a real provider does:
it builds an event, signs it with ``GATEWAY_WEBHOOK_SECRET`` and notifies us,
through the very same verification and processing as ``POST /webhooks/gateway``.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for

from app.gateway import signing, webhooks
from app.gateway.base import (
    HANDLED_KINDS,
    PAYMENT_DECLINED,
    PAYMENT_SUCCEEDED,
    PaymentGateway,
    ProviderEvent,
)
from app.models import Payment, money
from app.payments.errors import MalformedWebhook
from app.payments.requests import MAX_ID

_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")


class Decision(enum.StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    # A provider that fires its success notification twice.
    APPROVE_TWICE = "approve_twice"


@dataclass(frozen=True)
class Notification:
    """A signed provider event, ready to deliver."""

    event_id: str
    body: bytes
    headers: dict[str, str]


class SandboxGateway(PaymentGateway):
    """Speaks the ``Checkout-Signature`` protocol (see ``app.gateway.signing``)."""

    name = "sandbox"

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def checkout_url(self, payment_id: int) -> str:
        return url_for("gateway.sandbox_page", payment_id=payment_id)

    def read_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signing.verify(self._secret, headers.get(signing.HEADER), raw_body)
        return read_event(raw_body)

    def notification(self, payment: Payment, decision: Decision) -> Notification:
        """The event the provider sends for ``decision``, signed now."""
        event = {
            "id": f"evt_sbx_{secrets.token_hex(12)}",
            "type": PAYMENT_DECLINED if decision is Decision.DECLINE else PAYMENT_SUCCEEDED,
            "created": int(time.time()),
            "data": _event_data(payment, decision),
        }
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self._secret, body),
        }
        return Notification(event["id"], body, headers)


def simulate(payment: Payment, decision: Decision) -> list[webhooks.Receipt]:
    """Act on the patient's choice on the sandbox page, as the provider would.

    Signs one notification and delivers it through the webhook's own code;
    "Approve twice" delivers the very same notification (same event id) twice.
    """
    gateway = SandboxGateway(current_app.config["GATEWAY_WEBHOOK_SECRET"])
    note = gateway.notification(payment, decision)
    times = 2 if decision is Decision.APPROVE_TWICE else 1
    return [webhooks.receive(note.body, note.headers, gateway=gateway) for _ in range(times)]


def _event_data(payment: Payment, decision: Decision) -> dict[str, Any]:
    data: dict[str, Any] = {
        "payment_id": payment.id,
        "amount": str(money(payment.amount)),
        "currency": payment.currency,
    }
    if decision is Decision.DECLINE:
        data["reason"] = "card_declined"
    else:
        # One charge per payment at this provider: approving again reports the same charge.
        data["transaction_id"] = f"sbx_txn_{payment.id}"
        data["receipt_url"] = None
    return data


def read_event(raw_body: bytes) -> ProviderEvent:
    """Read the provider's event format (after its signature was verified).

    :raise MalformedWebhook: not JSON, or not an event we can read.
    """
    try:
        # parse_float=str: no float ever reaches money, and the payload stays storable JSON.
        payload = json.loads(raw_body, parse_float=str, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MalformedWebhook("The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise MalformedWebhook("The body must be a JSON object.")
    event_id, kind = payload.get("id"), payload.get("type")
    if not _short_text(event_id, 255) or not _short_text(kind, 64):
        raise MalformedWebhook("An event needs a string id and type.")
    if kind not in HANDLED_KINDS:
        return ProviderEvent(event_id, kind, None, payload=payload)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MalformedWebhook("The event's data must be a JSON object.")
    payment_id = data.get("payment_id")
    if isinstance(payment_id, bool) or not isinstance(payment_id, int) or payment_id < 1:
        raise MalformedWebhook("The event's data.payment_id must be a positive whole number.")
    reason = data.get("reason")
    return ProviderEvent(
        event_id,
        kind,
        # Larger ids cannot exist; lock_payment answers 404 for them.
        min(payment_id, MAX_ID + 1),
        transaction_id=data.get("transaction_id"),
        receipt_url=data.get("receipt_url"),
        reason=reason if _short_text(reason, 200) else None,
        amount=data.get("amount"),
        currency=data.get("currency"),
        payload=payload,
    )


def _short_text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= limit and bool(_PRINTABLE.match(value))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")
