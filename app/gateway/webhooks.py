"""Provider notifications: verified first, then applied once per event id.

The event id is claimed in ``gateway_events`` (a unique column) in the same
transaction as its effect, so a notification is applied exactly once however
often and however concurrently the provider delivers it; a crash rolls back
the claim with the effect, and the provider's retry applies it then.

The claim is taken after the payment's locks (consultation, then payment, as
every transition does): a second delivery of the same event waits for the
first to commit and then finds its claim.

Each event is stored as the bytes that were signed (``GatewayEvent.body``), so any body
the provider may send can be kept. A signed event we cannot read, or whose fields we
would store hold text PostgreSQL cannot store, is refused with 400 and kept with the
outcome ``unreadable``, which puts it on the attention page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models import CheckoutState, GatewayEvent, Payment, utcnow
from app.payments import lifecycle, outbox
from app.payments.errors import InvalidPaymentRequest, MalformedWebhook
from app.payments.insert_once import dialect_of, insert_if_absent
from app.payments.provider import (
    CHECKOUT_EXPIRED,
    HANDLED_KINDS,
    PAYMENT_SUCCEEDED,
    REFUND_FAILED,
    REFUND_SUCCEEDED,
    PaymentGateway,
    ProviderEvent,
)
from app.payments.requests import ConfirmRequest, parse_confirm_request, unstorable

UNREADABLE = "unreadable"
# Outcomes of events that changed nothing and need a person: the attention page lists them.
NOT_APPLIED_OUTCOMES = ("refused", "refund_unmatched", UNREADABLE)
# The event data fields that are stored or searched for. Whatever else the provider sends
# is kept only in the raw body, so it may hold any text.
_STORED_FIELDS = (
    "transaction_id",
    "receipt_url",
    "amount",
    "currency",
    "refund_id",
    "idempotency_key",
)


@dataclass(frozen=True)
class Receipt:
    """Our answer to one delivery; the provider only needs a 2xx."""

    event_id: str
    outcome: str
    payment_id: int | None = None
    payment_status: str | None = None
    detail: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "received": True,
            "event_id": self.event_id,
            "outcome": self.outcome,
            "payment_id": self.payment_id,
            "payment_status": self.payment_status,
            "detail": self.detail,
        }


def receive(raw_body: bytes, headers: Mapping[str, str], *, gateway: PaymentGateway) -> Receipt:
    """Verify a notification with ``gateway`` (the provider it came from) and apply it exactly once.

    Refusals of the transition itself (a duplicate charge, an amount mismatch, a
    decline for a paid payment) are recorded for staff and answered 200: retrying
    cannot change them.

    :raise BadSignature: 401.  :raise MalformedWebhook: 400.
    :raise PaymentNotFound: 404.  :raise PaymentsBusy: 503.
    """
    event = None
    try:
        event = gateway.read_notification(raw_body, headers)
        if _not_ours(event):
            return _ignored(event)
        application = _application(event, raw_body, gateway)
    except MalformedWebhook as refusal:
        # Signed (a bad signature raises BadSignature first): the provider's word, kept for staff.
        _record_unreadable(raw_body, event, refusal.detail)
        raise
    return lifecycle.run(event.payment_id, application)


def apply(event: ProviderEvent, gateway: PaymentGateway) -> Receipt:
    """Apply a verified ``event`` from ``gateway`` exactly once (its id is claimed).

    ``flask payments sync`` calls it for what a lookup showed (``CheckoutSnapshot.paid_event``),
    through the same steps and dedupe as a notification; the stored body is the event's
    data as JSON, since no provider sent bytes for it.

    :raise MalformedWebhook: 400.  :raise PaymentNotFound: 404.  :raise PaymentsBusy: 503.
    """
    if _not_ours(event):
        return _ignored(event)
    body = json.dumps(event.payload, default=str, sort_keys=True).encode()
    return lifecycle.run(event.payment_id, _application(event, body, gateway))


def _not_ours(event: ProviderEvent) -> bool:
    """A kind we do not apply, or one that names no payment of ours: acknowledged, ignored.

    A provider's own event name may be one of ours (Xendit's ``refund.failed``), so the
    payment id decides too: a refund made in the provider's dashboard names none.
    """
    return event.kind not in HANDLED_KINDS or event.payment_id is None


def _ignored(event: ProviderEvent) -> Receipt:
    if event.kind in HANDLED_KINDS:
        return Receipt(event.event_id, "ignored", detail="The event names no payment of ours.")
    return Receipt(event.event_id, "ignored", detail=f"Event type {event.kind} is not used.")


def _application(
    event: ProviderEvent, raw_body: bytes, gateway: PaymentGateway
) -> Callable[..., Receipt]:
    """What applying ``event`` does under the payment's locks; its data read and checked first.

    :raise MalformedWebhook: the data this kind of event needs is missing or invalid.
    """
    _refuse_unstorable(event)
    actor = f"gateway:{gateway.name}"
    if event.kind == REFUND_SUCCEEDED:
        notice = outbox.read_refund_notice(event)
        return partial(_apply_refund, event=event, body=raw_body, notice=notice, actor=actor)
    if event.kind in (CHECKOUT_EXPIRED, REFUND_FAILED):
        return partial(_record_provider_state, event=event, body=raw_body, actor=actor)
    confirmation = _confirmation(event) if event.kind == PAYMENT_SUCCEEDED else None
    return partial(_apply, event=event, body=raw_body, confirmation=confirmation, actor=actor)


def _refuse_unstorable(event: ProviderEvent) -> None:
    """Refuse an event whose stored fields PostgreSQL cannot hold, whichever adapter read it:
    the fields as the adapter parsed them, and the same names in a sandbox-shaped ``data``."""
    data = event.payload.get("data")
    sent = {f"data.{f}": data.get(f) for f in _STORED_FIELDS} if isinstance(data, dict) else {}
    parsed = {
        name: getattr(event, name, None)
        for name in ("event_id", "transaction_id", "receipt_url", "reason", "method", "currency")
    }
    for field, value in {**sent, **parsed}.items():
        if unstorable(value):
            raise MalformedWebhook(
                f"The event's {field} holds a NUL or a lone surrogate (\\u0000, \\ud800), "
                "which cannot be stored."
            )


def _record_unreadable(raw_body: bytes, event: ProviderEvent | None, detail: str) -> None:
    """Keep a signed event we refused, once: under its id, or its body's digest if unreadable."""
    event_id = event.event_id if event else f"sha256:{hashlib.sha256(raw_body).hexdigest()}"
    with transaction() as session:
        payment_id = None
        if event is not None and event.payment_id is not None:
            payment_id = session.scalar(select(Payment.id).where(Payment.id == event.payment_id))
        stmt = insert_if_absent(
            dialect_of(session),
            GatewayEvent,
            ["event_id"],
            event_id=event_id,
            event_type=event.kind if event else UNREADABLE,
            payment_id=payment_id,
            body=raw_body,
            received_at=utcnow(),
            outcome=UNREADABLE,
            note=detail,
        )
        session.execute(stmt)


def _confirmation(event: ProviderEvent) -> ConfirmRequest:
    try:
        return parse_confirm_request(
            transaction_id=event.transaction_id, receipt_url=event.receipt_url
        )
    except InvalidPaymentRequest as exc:
        raise MalformedWebhook(f"The event's payment data is not valid: {exc.detail}") from exc


def _apply(
    session: Session,
    payment: Payment,
    *,
    event: ProviderEvent,
    body: bytes,
    confirmation: ConfirmRequest | None,
    actor: str,
) -> Receipt:
    if not _claim(session, event, body):
        return _already_processed(event, payment)
    if confirmation is not None:
        result = lifecycle.confirm_locked(
            session,
            payment,
            req=confirmation,
            actor=actor,
            reported=lifecycle.Reported(event.amount, event.currency),
        )
    else:
        result = lifecycle.fail_locked(
            session,
            payment,
            reason=event.reason or "declined",
            actor=actor,
            event_id=event.event_id,
        )
    if confirmation is not None and payment.transaction_id == event.transaction_id:
        _record_charge(session, payment, event)
    detail = result.refusal.detail if result.refusal else ""
    _record_outcome(session, event.event_id, result.outcome, detail)
    return Receipt(event.event_id, result.outcome, payment.id, payment.status, detail)


def _record_charge(session: Session, payment: Payment, event: ProviderEvent) -> None:
    """What the provider reports about the charge that paid ``payment``: its method, fee and
    net (pesos), where it says; its hosted checkout is paid. Core, so the version stays."""
    reported = {
        "provider_method": event.method,
        "provider_fee": event.fee,
        "provider_net": event.net,
    }
    values = {name: value for name, value in reported.items() if value is not None}
    if payment.checkout_state == CheckoutState.OPEN:
        values["checkout_state"] = CheckoutState.PAID
    if values:
        table = Payment.__table__
        session.execute(update(table).where(table.c.id == payment.id).values(**values))


def _apply_refund(
    session: Session,
    payment: Payment,
    *,
    event: ProviderEvent,
    body: bytes,
    notice: outbox.RefundNotice,
    actor: str,
) -> Receipt:
    if not _claim(session, event, body):
        return _already_processed(event, payment)
    outcome, detail = outbox.apply_refund_notice(session, payment, notice, actor=actor)
    _record_outcome(session, event.event_id, outcome, detail)
    return Receipt(event.event_id, outcome, payment.id, payment.status, detail)


def _record_provider_state(
    session: Session, payment: Payment, *, event: ProviderEvent, body: bytes, actor: str
) -> Receipt:
    """What the provider says happened outside our calls, once per event id.

    ``checkout.expired``: the provider expired (or cancelled) the hosted checkout, so that
    session is no longer payable; a pending payment gets a new one when the patient next
    presses Pay (``app.payments.checkout_session``). ``refund.failed``: a refund the provider
    had accepted did not reach the patient: its outbox row becomes failed and the event is kept
    as ``refused`` for the staff attention page.
    """
    if not _claim(session, event, body):
        return _already_processed(event, payment)
    if event.kind == CHECKOUT_EXPIRED:
        table = Payment.__table__
        changed = session.execute(
            update(table)
            .where(
                table.c.id == payment.id,
                table.c.checkout_session_id == event.session_id,
                table.c.checkout_state == CheckoutState.OPEN,
            )
            .values(checkout_state=CheckoutState.EXPIRED)
        ).rowcount
        outcome, detail = ("checkout_expired" if changed else "unchanged"), ""
    else:
        outcome = "refused"
        refund_id = event.refund.refund_id if event.refund else "?"
        detail = f"The provider reports refund {refund_id} failed"
        detail += f" ({event.reason})." if event.reason else "."
        if event.refund is not None:
            outbox.apply_refund_failure(session, payment, event.refund, detail, actor=actor)
    _record_outcome(session, event.event_id, outcome, detail)
    return Receipt(event.event_id, outcome, payment.id, payment.status, detail)


def _claim(session: Session, event: ProviderEvent, body: bytes) -> bool:
    """Insert the event's row (``body`` as signed); False if it was already processed."""
    stmt = insert_if_absent(
        dialect_of(session),
        GatewayEvent,
        ["event_id"],
        event_id=event.event_id,
        event_type=event.kind,
        payment_id=event.payment_id,
        body=body,
        received_at=utcnow(),
    )
    return session.execute(stmt).first() is not None


def _already_processed(event: ProviderEvent, payment: Payment) -> Receipt:
    return Receipt(
        event.event_id,
        "already_processed",
        payment.id,
        payment.status,
        "This event was already processed; nothing changed.",
    )


def _record_outcome(session: Session, event_id: str, outcome: str, detail: str) -> None:
    """What applying the event did; NOT_APPLIED_OUTCOMES put it on the attention page."""
    session.execute(
        update(GatewayEvent)
        .where(GatewayEvent.event_id == event_id)
        .values(outcome=outcome, note=detail or None)
    )
