"""The sandbox provider: a payment provider inside the app, so the whole flow runs locally.

Its page (``/gateway/sandbox/<payment id>``) stands in for a provider's hosted
checkout. When the patient decides, the sandbox does what a real provider does:
it builds an event, signs it with ``GATEWAY_WEBHOOK_SECRET`` and notifies us,
through the very same verification and processing as ``POST /webhooks/gateway``.

Refunds: the sandbox keeps its own ledger (``sandbox_refunds``, written on its
own connection, never in the caller's transaction), honours idempotency keys
(the same key answers with the first refund and never refunds twice) and
answers each refund with a signed ``refund.succeeded`` notification. For tests
it can be told to misbehave (``SANDBOX_REFUND_FAULT``, docs/operations.md).
"""

from __future__ import annotations

import enum
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app, url_for
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.gateway import signing, webhooks
from app.models import Payment, PaymentStatus, SandboxRefund, money, utcnow
from app.payments.errors import MalformedWebhook, PaymentError
from app.payments.provider import (
    PAYMENT_DECLINED,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    ChargeStatus,
    CheckoutRequest,
    CheckoutSnapshot,
    HostedCheckout,
    PaymentGateway,
    ProviderCharge,
    ProviderEvent,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
    RefundResult,
    SessionState,
)
from app.payments.requests import MAX_ID

_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")
_SESSION_ID = re.compile(r"^sbx_cs_([1-9][0-9]{0,18})$")
SESSION_PREFIX = "sbx_cs_"
#: The kinds the sandbox sends; any other type is acknowledged and ignored.
SANDBOX_KINDS = (PAYMENT_SUCCEEDED, PAYMENT_DECLINED, REFUND_SUCCEEDED)
log = logging.getLogger("app.gateway.sandbox")


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
    # Its page is the payment's own (checkout_url): nothing to create, store or expire.
    stores_checkouts = False

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def checkout_url(self, payment_id: int) -> str:
        return url_for("gateway.sandbox_page", payment_id=payment_id)

    def start_checkout(self, request: CheckoutRequest) -> HostedCheckout:
        """The sandbox page of ``request.payment_id``: one session per payment, no call made."""
        session_id = f"{SESSION_PREFIX}{request.payment_id}"
        return HostedCheckout(session_id, self.checkout_url(request.payment_id))

    def expire_checkout(self, session_id: str) -> None:
        """Nothing to do: the sandbox page is payable only while our payment is open."""
        _payment_id_of(session_id)

    def lookup(self, session_id: str) -> CheckoutSnapshot:
        """Read the sandbox's session from our payment (on its own connection).

        :raise ProviderRefused: not a sandbox session id, or no such payment.
        """
        payment_id = _payment_id_of(session_id)
        with db.engine.connect() as conn:
            row = conn.execute(
                Payment.__table__.select().where(Payment.__table__.c.id == payment_id)
            ).one_or_none()
        if row is None:
            raise ProviderRefused(f"The sandbox has no session {session_id}.")
        charges: tuple[ProviderCharge, ...] = ()
        if row.transaction_id:
            state = SessionState.PAID
            charge = ProviderCharge(
                row.transaction_id,
                ChargeStatus.PAID,
                money(row.amount),
                row.currency,
                method=row.payment_method,
                paid_at=row.completed_at,
            )
            charges = (charge,)
        elif row.status in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
            state = SessionState.OPEN
        else:
            state = SessionState.EXPIRED
        return CheckoutSnapshot(session_id, state, payment_id, str(payment_id), charges)

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
        return self._signed(event)

    def refund(self, payment: Payment, amount: Decimal, idempotency_key: str) -> RefundResult:
        """Refund ``amount`` (pesos) of ``payment``'s sandbox charge, once per key.

        :raise ProviderRefused: the sandbox is off (``GATEWAY_SANDBOX=0``), no charge, an
            amount above the charge, a key reused for another refund, or
            ``SANDBOX_REFUND_FAULT=refuse``.
        :raise ProviderUnavailable: an ``unavailable_*`` fault.
        :raise ProviderTimeout: a ``timeout_after``/``hang_after`` fault (after refunding).
        """
        config = current_app.config
        fault = config["SANDBOX_REFUND_FAULT"]
        if not config["GATEWAY_SANDBOX"]:
            # Nothing will ever send it: say so, so staff refund by hand rather than wait.
            raise ProviderRefused("No payment provider is configured to refund through the app.")
        if fault == "refuse":
            raise ProviderRefused("The provider refused this refund.")
        if fault == "unavailable_before":
            raise ProviderUnavailable("The provider answered 503.")
        amount = money(amount)
        if not payment.transaction_id:
            raise ProviderRefused("The provider has no charge for this payment.")
        if not Decimal("0") < amount <= money(payment.amount):
            raise ProviderRefused(
                f"The provider cannot refund {amount} of a {payment.amount} charge."
            )
        key = idempotency_key if config["SANDBOX_HONOUR_IDEMPOTENCY_KEYS"] else None
        result = _record_refund(payment, amount, key)
        if fault == "timeout_after":
            raise ProviderTimeout("The provider did not answer in time.")
        if fault == "unavailable_after":
            raise ProviderUnavailable("The provider answered 502.")
        if fault == "hang_after":
            time.sleep(config["SANDBOX_REFUND_HANG_SECONDS"])
            raise ProviderTimeout("The provider did not answer in time.")
        self._notify_refund(payment, result, idempotency_key)
        return result

    def refund_notification(
        self, payment: Payment, result: RefundResult, idempotency_key: str
    ) -> Notification:
        """The signed ``refund.succeeded`` event for ``result`` (one event id per refund)."""
        event = {
            "id": f"evt_sbx_{result.refund_id}",
            "type": REFUND_SUCCEEDED,
            "created": int(result.created_at.timestamp()),
            "data": {
                "payment_id": payment.id,
                "refund_id": result.refund_id,
                "charge_id": payment.transaction_id,
                "amount": str(result.amount),
                "currency": result.currency,
                "idempotency_key": idempotency_key,
            },
        }
        return self._signed(event)

    def _signed(self, event: dict[str, Any]) -> Notification:
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self._secret, body),
        }
        return Notification(event["id"], body, headers)

    def _notify_refund(self, payment: Payment, result: RefundResult, idempotency_key: str) -> None:
        # Delivered through the webhook's own verification and processing. A delivery that
        # fails is only logged: the caller records the answer it got anyway.
        note = self.refund_notification(payment, result, idempotency_key)
        try:
            webhooks.receive(note.body, note.headers, gateway=self)
        except PaymentError as error:
            log.warning("sandbox.refund_notice_failed event_id=%s error=%s", note.event_id, error)


def _record_refund(payment: Payment, amount: Decimal, key: str | None) -> RefundResult:
    """Write the refund in the sandbox's ledger on its own connection and commit it.

    One statement: a second call with the same key only counts the call and gets
    the first refund back, even when both calls arrive at once.
    """
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    table = SandboxRefund.__table__
    stmt = insert(table).values(
        refund_id=f"rf_sbx_{secrets.token_hex(10)}",
        charge_id=payment.transaction_id,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        idempotency_key=key,
        calls=1,
        created_at=utcnow(),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["idempotency_key"], set_={"calls": table.c.calls + 1}
    ).returning(table)
    with db.engine.begin() as conn:
        row = conn.execute(stmt).one()
    if row.payment_id != payment.id or money(row.amount) != amount:
        raise ProviderRefused("This idempotency key was already used for another refund.")
    return RefundResult(row.refund_id, money(row.amount), row.currency, row.created_at)


def _payment_id_of(session_id: str) -> int:
    match = _SESSION_ID.match(session_id) if isinstance(session_id, str) else None
    if match is None or int(match.group(1)) > MAX_ID:
        raise ProviderRefused(f"{session_id!r} is not a sandbox session id.")
    return int(match.group(1))


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
    if kind not in SANDBOX_KINDS:
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
