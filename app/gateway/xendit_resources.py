"""Xendit's sessions, refunds and webhook bodies, read into the app's terms (no calls here).

Xendit answers in plain JSON objects, amounts as JSON numbers in pesos (read with
``DECIMAL_PESOS``) and times as ISO 8601 text. The shapes follow these pages:

- session (``POST /sessions``, ``GET /sessions/{id}``): https://docs.xendit.co/apidocs/create-session,
  https://docs.xendit.co/apidocs/get-session (``payment_session_id``, ``reference_id``,
  ``amount``, ``currency``, ``status`` ACTIVE / COMPLETED / EXPIRED / CANCELED,
  ``payment_link_url``, ``payment_request_id``, ``metadata``);
- session webhooks ``payment_session.completed`` / ``payment_session.expired``:
  https://docs.xendit.co/apidocs/webhook-notification-sent-defined-webhook-url-updates-payment-session
  (``{"event", "business_id", "created", "data": <session>}``; a completed one adds
  ``payment_request_id`` and ``payment_id``);
- payment webhooks ``payment.capture`` / ``payment.failure``:
  https://docs.xendit.co/apidocs/payment-webhook-notification (``payment_id``,
  ``payment_request_id``, ``request_amount``, ``channel_code``, ``status``);
- refund (``POST /refunds`` answer) and refund webhooks ``refund.succeeded`` /
  ``refund.failed``: https://docs.xendit.co/apidocs/refund-payment-request,
  https://docs.xendit.co/apidocs/refund-webhook-notification (``id``, ``amount``,
  ``currency``, ``status``, ``reference_id``, ``metadata``, ``created``).

Where the pages are silent we say so and choose the safe reading:

- No page gives a webhook an event id. Ours is ``xendit:<event>:<object id>`` (the session,
  payment or refund id the body names), the same for every delivery of one event, so a
  duplicate or replayed body is applied once (``app.gateway.webhooks`` claims the id).
- No page gives a fee or net amount in these bodies, so ``fee`` and ``net`` stay None; the
  channel (``channel_code``) is only in payment webhooks.
- No page says whether a session's ``metadata`` reaches the payments made in it. Our payment
  id is read from ``metadata.payment_id`` where a body carries it; a body that names no
  payment of ours is acknowledged and ignored, and ``flask payments sync`` (which asks by
  the session id we stored) applies what it missed.
- A ``payment.failure`` is one failed attempt: a session "supports multiple payment
  attempts" (https://docs.xendit.co/docs/payment-sessions-overview) and stays payable, so
  it is acknowledged and never declines our payment.
- The refund webhook page's example nests the refund one level deeper
  (``data.data``) than the session and payment pages do; both shapes are read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.gateway.fields import Unreadable, our_payment_id, php, text
from app.gateway.money import DECIMAL_PESOS, NotAnAmount
from app.payments.provider import (
    CHECKOUT_EXPIRED,
    PAYMENT_SUCCEEDED,
    REFUND_FAILED,
    REFUND_SUCCEEDED,
    ChargeStatus,
    CheckoutSnapshot,
    ProviderCharge,
    ProviderEvent,
    RefundNotice,
    RefundResult,
    SessionState,
)

#: Our keys in Xendit's ``metadata`` (string values).
REFUND_KEY = "idempotency_key"

SESSION_COMPLETED = "payment_session.completed"
SESSION_EXPIRED = "payment_session.expired"
PAYMENT_CAPTURE = "payment.capture"
PAYMENT_FAILURE = "payment.failure"
REFUND_SUCCEEDED_EVENT = "refund.succeeded"
REFUND_FAILED_EVENT = "refund.failed"

_STATES = {
    "ACTIVE": SessionState.OPEN,
    "COMPLETED": SessionState.PAID,
    "EXPIRED": SessionState.EXPIRED,
    "CANCELED": SessionState.EXPIRED,
}


def session(body: Any) -> tuple[str, dict[str, Any]]:
    """A session object → (``payment_session_id``, the object)."""
    if not isinstance(body, dict):
        raise Unreadable("Expected a session object.")
    session_id = text(body.get("payment_session_id"))
    if session_id is None:
        raise Unreadable("A session needs payment_session_id.")
    return session_id, body


def snapshot(body: Any) -> CheckoutSnapshot:
    """A session → what happened in it: paid once COMPLETED with a payment request."""
    session_id, found = session(body)
    status = found.get("status")
    if status not in _STATES:
        raise Unreadable(f"Unknown session status {str(status)[:20]!r}.")
    charges: tuple[ProviderCharge, ...] = ()
    request_id = text(found.get("payment_request_id"))
    if status == "COMPLETED":
        if request_id is None:
            raise Unreadable("A completed session needs payment_request_id.")
        charges = (
            ProviderCharge(
                request_id,
                ChargeStatus.PAID,
                pesos(found.get("amount")),
                php(found.get("currency")),
                paid_at=_time(found.get("updated")),
            ),
        )
    return CheckoutSnapshot(
        session_id,
        _STATES[status],
        our_payment_id(found.get("metadata")),
        text(found.get("reference_id")),
        charges,
    )


def refund_result(body: Any) -> RefundResult:
    """A refund object → the port's ``RefundResult``; settled only once ``SUCCEEDED``."""
    if not isinstance(body, dict):
        raise Unreadable("Expected a refund object.")
    refund_id, created = text(body.get("id")), _time(body.get("created"))
    if refund_id is None or created is None:
        raise Unreadable("A refund needs id and created.")
    return RefundResult(
        refund_id,
        pesos(body.get("amount")),
        php(body.get("currency")),
        created,
        settled=body.get("status") == "SUCCEEDED",
    )


def refund_status(body: Any) -> str | None:
    """A refund's ``status`` as sent (PENDING, SUCCEEDED, FAILED)."""
    return text(body.get("status")) if isinstance(body, dict) else None


def event(payload: Any) -> ProviderEvent:
    """A verified webhook body → a ``ProviderEvent`` in the app's kinds (module docstring)."""
    if not isinstance(payload, dict):
        raise Unreadable("A webhook body must be a JSON object.")
    kind, data = text(payload.get("event"), 64), payload.get("data")
    if kind is None or not isinstance(data, dict):
        raise Unreadable("A webhook needs event and data.")
    if kind in (SESSION_COMPLETED, SESSION_EXPIRED):
        return _session_event(kind, payload, data)
    if kind in (PAYMENT_CAPTURE, PAYMENT_FAILURE):
        return _payment_event(kind, payload, data)
    if kind in (REFUND_SUCCEEDED_EVENT, REFUND_FAILED_EVENT):
        return _refund_event(kind, payload, data)
    return ProviderEvent(f"xendit:{kind}", kind, None, payload=payload)


def _session_event(kind: str, payload: dict, data: dict) -> ProviderEvent:
    found = snapshot(data)
    event_id = f"xendit:{kind}:{found.session_id}"
    if found.payment_id is None:
        return ProviderEvent(event_id, kind, None, payload=payload)
    if kind == SESSION_EXPIRED:
        return ProviderEvent(
            event_id,
            CHECKOUT_EXPIRED,
            found.payment_id,
            payload=payload,
            session_id=found.session_id,
        )
    paid = found.paid_charge
    if paid is None:
        raise Unreadable("A completed session event needs a completed session.")
    return ProviderEvent(
        event_id,
        PAYMENT_SUCCEEDED,
        found.payment_id,
        transaction_id=paid.charge_id,
        amount=str(paid.amount),
        currency=paid.currency,
        payload=payload,
        session_id=found.session_id,
    )


def _payment_event(kind: str, payload: dict, data: dict) -> ProviderEvent:
    """A capture that names our payment completes it; any other payment webhook is
    acknowledged, whatever else it carries (a failed attempt leaves the session payable)."""
    payment = text(data.get("payment_id"))
    event_id = f"xendit:{kind}:{payment or 'unnamed'}"
    payment_id = our_payment_id(data.get("metadata"))
    if kind == PAYMENT_FAILURE or payment_id is None or data.get("status") != "SUCCEEDED":
        return ProviderEvent(event_id, kind, None, payload=payload)
    request_id = text(data.get("payment_request_id"))
    if payment is None or request_id is None:
        raise Unreadable("A capture needs payment_id and payment_request_id.")
    return ProviderEvent(
        event_id,
        PAYMENT_SUCCEEDED,
        payment_id,
        transaction_id=request_id,
        amount=str(pesos(data.get("request_amount"))),
        currency=php(data.get("currency")),
        payload=payload,
        method=text(data.get("channel_code"), 64),
    )


def _refund_event(kind: str, payload: dict, data: dict) -> ProviderEvent:
    if isinstance(data.get("data"), dict):  # the refund webhook page's nested example
        data = data["data"]
    result = refund_result(data)
    event_id = f"xendit:{kind}:{result.refund_id}"
    metadata = data.get("metadata")
    key = text(metadata.get(REFUND_KEY)) if isinstance(metadata, dict) else None
    payment_id = our_payment_id(metadata)
    if key is None or payment_id is None:
        return ProviderEvent(event_id, kind, None, payload=payload)
    ours = REFUND_SUCCEEDED if kind == REFUND_SUCCEEDED_EVENT else REFUND_FAILED
    notice = RefundNotice(result.refund_id, key, result.amount, result.created_at)
    return ProviderEvent(
        event_id,
        ours,
        payment_id,
        amount=str(result.amount),
        currency=result.currency,
        reason=text(data.get("failure_code"), 64),
        payload=payload,
        refund=notice,
    )


def pesos(value: Any) -> Decimal:
    """An amount as read (``int`` or ``Decimal``) → pesos. :raise Unreadable: see the codec."""
    try:
        return DECIMAL_PESOS.decode(value)
    except NotAnAmount as error:
        raise Unreadable(f"Not an amount in pesos: {error}") from None


def _time(value: Any) -> datetime | None:
    """ISO 8601 text (``2024-12-06T03:35:36.032Z``) → aware UTC; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise Unreadable("A time must be ISO 8601 text.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Unreadable("A time must be ISO 8601 text.") from None
    if parsed.tzinfo is None:
        raise Unreadable("A time must carry its offset.")
    return parsed.astimezone(UTC)
