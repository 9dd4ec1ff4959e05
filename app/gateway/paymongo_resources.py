"""PayMongo's resources and events, read into the app's terms (nothing here calls PayMongo).

PayMongo answers in JSON:API style, ``{"data": {"id", "type", "attributes": {...}}}``,
with every amount in integer centavos and every time in unix seconds. The shapes
read here come from:

- checkout session: https://developers.paymongo.com/reference/checkout-session-resource
  (``checkout_url``, ``status``, ``reference_number``, ``metadata``, ``payments[]``);
- payment: https://developers.paymongo.com/reference/payment-source (``amount``,
  ``fee``, ``net_amount``, ``source.type``, ``status`` pending / paid / failed,
  ``paid_at``, ``failed_code``);
- refund: https://developers.paymongo.com/reference/refund-resource (``amount``,
  ``payment_id``, ``reason``, ``status`` pending / processing / succeeded / failed,
  ``metadata``);
- event: https://developers.paymongo.com/docs/developer-tools-webhooks-events
  (``data.id``, ``attributes.type``, ``attributes.livemode``, ``attributes.data``).

Anything we cannot read is ``Unreadable``; the adapter turns it into the right
error for its caller (a refused call, or a malformed webhook).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.gateway.fields import Unreadable, our_payment_id, php, text
from app.gateway.money import CENTAVOS, NotAnAmount
from app.payments.provider import (
    PAYMENT_DECLINED,
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

#: Our keys in PayMongo's ``metadata`` (string values only, per its resource pages).
REFERENCE_KEY = "reference"
REFUND_KEY = "idempotency_key"

CHECKOUT_PAID = "checkout_session.payment.paid"
PAYMENT_PAID = "payment.paid"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"
REFUND_UPDATED = "payment.refund.updated"
#: A refund's final statuses and the app's event kinds for them.
_SETTLED_REFUNDS = {"succeeded": REFUND_SUCCEEDED, "failed": REFUND_FAILED}


def resource(body: Any, kind: str) -> tuple[str, dict[str, Any]]:
    """``{"data": {"id", "type": kind, "attributes"}}`` → (id, attributes)."""
    data = body.get("data") if isinstance(body, dict) else None
    return _resource(data, kind)


def snapshot(body: Any) -> CheckoutSnapshot:
    """A checkout session answer → what happened in it.

    Paid when any of its payments is paid (one session may hold several
    attempts), expired when PayMongo says so, open otherwise.
    """
    session_id, attributes = resource(body, "checkout_session")
    charges = tuple(charge(item) for item in _list(attributes.get("payments")))
    if any(c.status is ChargeStatus.PAID for c in charges):
        state = SessionState.PAID
    elif attributes.get("status") == "expired":
        state = SessionState.EXPIRED
    else:
        state = SessionState.OPEN
    metadata = _dict(attributes.get("metadata"))
    return CheckoutSnapshot(
        session_id,
        state,
        our_payment_id(metadata),
        text(attributes.get("reference_number")),
        charges,
    )


def charge(item: Any) -> ProviderCharge:
    """A payment resource → the charge it records (fee and net only when PayMongo says)."""
    charge_id, attributes = _resource(item, "payment")
    status = attributes.get("status")
    source = _dict(attributes.get("source"))
    return ProviderCharge(
        charge_id,
        ChargeStatus(status) if status in set(ChargeStatus) else ChargeStatus.PENDING,
        _pesos(attributes.get("amount")),
        php(attributes.get("currency")),
        method=text(source.get("type")),
        fee=_optional_pesos(attributes.get("fee")),
        net=_optional_pesos(attributes.get("net_amount")),
        paid_at=_time(attributes.get("paid_at")),
        failure=text(attributes.get("failed_code")) or text(attributes.get("failed_message")),
    )


def refund_result(item: Any) -> RefundResult:
    """A refund resource → the port's ``RefundResult``; settled only once ``succeeded``
    (pending and processing refunds have not reached the patient yet)."""
    refund_id, attributes = _resource(item, "refund")
    created = _time(attributes.get("created_at"))
    if created is None:
        raise Unreadable("A refund needs created_at.")
    return RefundResult(
        refund_id,
        _pesos(attributes.get("amount")),
        php(attributes.get("currency")),
        created,
        settled=attributes.get("status") == "succeeded",
    )


def refund_key(item: Any) -> str | None:
    """The idempotency key we put in a refund's metadata, if it carries one."""
    if not isinstance(item, dict):
        return None
    attributes = _dict(item.get("attributes"))
    return text(_dict(attributes.get("metadata")).get(REFUND_KEY))


def refund_status(item: Any) -> str | None:
    """A refund's status as PayMongo sent it (pending, processing, succeeded, failed)."""
    attributes = _dict(item.get("attributes")) if isinstance(item, dict) else {}
    return text(attributes.get("status"))


def event(payload: Any) -> ProviderEvent:
    """A verified webhook body → a ``ProviderEvent`` in the app's kinds.

    Applied kinds: a paid checkout session or payment → ``payment.succeeded``; a
    failed payment → ``payment.declined``; a succeeded (failed) refund carrying our key →
    ``refund.succeeded`` (``refund.failed``). Every other event keeps PayMongo's own type, which the
    app acknowledges and ignores; so does an event that names no payment of ours.
    """
    event_id, attributes = resource(payload, "event")
    kind = text(attributes.get("type"), 64)
    if kind is None:
        raise Unreadable("An event needs attributes.type.")
    data = attributes.get("data")
    if kind == CHECKOUT_PAID:
        return _checkout_paid(event_id, payload, data)
    if kind in (PAYMENT_PAID, PAYMENT_FAILED):
        return _payment(event_id, kind, payload, data)
    if kind in (PAYMENT_REFUNDED, REFUND_UPDATED):
        return _refund(event_id, kind, payload, data)
    return ProviderEvent(event_id, kind, None, payload=payload)


def event_livemode(payload: Any) -> Any:
    """The event's ``livemode`` as sent (True, False, or anything else)."""
    data = _dict(payload.get("data")) if isinstance(payload, dict) else {}
    return _dict(data.get("attributes")).get("livemode")


def _checkout_paid(event_id: str, payload: Any, data: Any) -> ProviderEvent:
    found = snapshot({"data": data})
    paid = found.paid_charge
    if paid is None:
        raise Unreadable("A paid checkout session event needs a paid payment.")
    if found.payment_id is None:
        return ProviderEvent(event_id, CHECKOUT_PAID, None, payload=payload)
    return _charge_event(event_id, PAYMENT_SUCCEEDED, found.payment_id, paid, payload)


def _payment(event_id: str, kind: str, payload: Any, data: Any) -> ProviderEvent:
    found = charge(data)
    _, attributes = _resource(data, "payment")
    payment_id = our_payment_id(_dict(attributes.get("metadata")))
    if payment_id is None:
        # A payment PayMongo made without our metadata: the checkout session's own
        # event (or `flask payments sync`) carries it to us.
        return ProviderEvent(event_id, kind, None, payload=payload)
    ours = PAYMENT_SUCCEEDED if kind == PAYMENT_PAID else PAYMENT_DECLINED
    return _charge_event(event_id, ours, payment_id, found, payload)


def _charge_event(
    event_id: str, kind: str, payment_id: int, paid: ProviderCharge, payload: Any
) -> ProviderEvent:
    return ProviderEvent(
        event_id,
        kind,
        payment_id,
        transaction_id=paid.charge_id,
        reason=paid.failure,
        amount=str(paid.amount),
        currency=paid.currency,
        payload=payload,
        method=paid.method,
        fee=paid.fee,
        net=paid.net,
    )


def _refund(event_id: str, kind: str, payload: Any, data: Any) -> ProviderEvent:
    """A settled refund of ours: the refund itself, or the first of a payment's refunds.

    ``succeeded`` → ``refund.succeeded``; ``failed`` → ``refund.failed`` (the staff attention
    page); pending and processing change nothing yet and are acknowledged.
    """
    refunds = [data]
    if isinstance(data, dict) and data.get("type") == "payment":
        _, attributes = _resource(data, "payment")
        refunds = _list(attributes.get("refunds"))
    for item in refunds:
        key, status = refund_key(item), refund_status(item)
        if key is None or status not in _SETTLED_REFUNDS:
            continue
        result = refund_result(item)
        _, attributes = _resource(item, "refund")
        payment_id = our_payment_id(_dict(attributes.get("metadata")))
        if payment_id is None:
            continue
        notice = RefundNotice(result.refund_id, key, result.amount, result.created_at)
        return ProviderEvent(
            event_id,
            _SETTLED_REFUNDS[status],
            payment_id,
            amount=str(result.amount),
            currency=result.currency,
            payload=payload,
            refund=notice,
        )
    return ProviderEvent(event_id, kind, None, payload=payload)


def _resource(data: Any, kind: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(data, dict) or data.get("type") != kind:
        raise Unreadable(f"Expected a {kind} resource.")
    resource_id, attributes = text(data.get("id")), data.get("attributes")
    if resource_id is None or not isinstance(attributes, dict):
        raise Unreadable(f"A {kind} resource needs an id and attributes.")
    return resource_id, attributes


def _pesos(value: Any) -> Decimal:
    try:
        return CENTAVOS.decode(value)
    except NotAnAmount as error:
        raise Unreadable(f"Not an amount in centavos: {error}") from None


def _optional_pesos(value: Any) -> Decimal | None:
    return None if value is None else _pesos(value)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unreadable("A time must be whole unix seconds.")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise Unreadable("A time is out of range.") from None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
