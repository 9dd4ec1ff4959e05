"""Provider notifications: verified first, then applied once per event id.

The event id is claimed in ``gateway_events`` (a unique column) in the same
transaction as its effect, so a notification is applied exactly once however
often and however concurrently the provider delivers it; a crash rolls back
the claim with the effect, and the provider's retry applies it then.

The claim is taken after the payment's locks (consultation, then payment, as
every transition does): a second delivery of the same event waits for the
first to commit and then finds its claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import CheckoutState, GatewayEvent, Payment, utcnow
from app.payments import lifecycle, outbox
from app.payments.errors import InvalidPaymentRequest, MalformedWebhook
from app.payments.insert_once import dialect_of, insert_if_absent
from app.payments.provider import (
    HANDLED_KINDS,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    PaymentGateway,
    ProviderEvent,
)
from app.payments.requests import ConfirmRequest, parse_confirm_request


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
    return apply(gateway.read_notification(raw_body, headers), gateway)


def apply(event: ProviderEvent, gateway: PaymentGateway) -> Receipt:
    """Apply a verified ``event`` from ``gateway`` exactly once (its id is claimed).

    ``receive`` calls it for a notification; ``flask payments sync`` for what a lookup
    showed (``CheckoutSnapshot.paid_event``), so both share one path and one dedupe.

    :raise MalformedWebhook: 400.  :raise PaymentNotFound: 404.  :raise PaymentsBusy: 503.
    """
    if event.kind not in HANDLED_KINDS:
        return Receipt(event.event_id, "ignored", detail=f"Event type {event.kind} is not used.")
    actor = f"gateway:{gateway.name}"
    if event.kind == REFUND_SUCCEEDED:
        notice = outbox.read_refund_notice(event)
        return lifecycle.run(
            event.payment_id, partial(_apply_refund, event=event, notice=notice, actor=actor)
        )
    confirmation = _confirmation(event) if event.kind == PAYMENT_SUCCEEDED else None
    apply = partial(_apply, event=event, confirmation=confirmation, actor=actor)
    return lifecycle.run(event.payment_id, apply)


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
    confirmation: ConfirmRequest | None,
    actor: str,
) -> Receipt:
    if not _claim(session, event):
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
    notice: outbox.RefundNotice,
    actor: str,
) -> Receipt:
    if not _claim(session, event):
        return _already_processed(event, payment)
    outcome, detail = outbox.apply_refund_notice(session, payment, notice, actor=actor)
    _record_outcome(session, event.event_id, outcome, detail)
    return Receipt(event.event_id, outcome, payment.id, payment.status, detail)


def _claim(session: Session, event: ProviderEvent) -> bool:
    """Insert the event's row; False if it was already processed."""
    stmt = insert_if_absent(
        dialect_of(session),
        GatewayEvent,
        ["event_id"],
        event_id=event.event_id,
        event_type=event.kind,
        payment_id=event.payment_id,
        payload=event.payload,
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
