"""Helpers for payment lifecycle tests: read a payment's whole state, sign webhooks.

Payments are made, confirmed and refunded through the ``api`` fixture (tests/support/api.py)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from app.extensions import db
from app.gateway import signing
from app.models import GatewayEvent, Payment, PaymentEvent, utcnow

WEBHOOK_URL = "/webhooks/gateway"


def state(app, payment_id: int) -> dict[str, Any]:
    """Everything a transition may touch, read straight from the database."""
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        snapshot = {
            "status": payment.status,
            "version": payment.version,
            "transaction_id": payment.transaction_id,
            "receipt_url": payment.receipt_url,
            "completed_at": payment.completed_at,
            "invoice": payment.invoice.status,
            "paid_at": payment.invoice.paid_at,
            "tax": payment.tax_record.status,
            "events": [e.event_type for e in payment.events],
        }
        db.session.rollback()
        return snapshot


def events(app, payment_id: int, event_type: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(
            select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id, PaymentEvent.event_type == event_type)
            .order_by(PaymentEvent.id)
        ).all()
        found = [{"actor": e.actor, **e.data} for e in rows]
        db.session.rollback()
        return found


def gateway_event_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(GatewayEvent))
        db.session.rollback()
        return count


def age_payment(app, payment_id: int, seconds: int) -> None:
    """Pretend the payment was created ``seconds`` ago.

    Time travel, not a transition: no lifecycle call moves ``created_at``, so this is the
    one straight UPDATE the helpers make on a payment.
    """
    with app.app_context():
        db.session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def provider_event(
    payment_id: Any,
    *,
    kind: str = "payment.succeeded",
    event_id: str = "evt_test_1",
    transaction_id: str = "txn_provider_1",
    **data: Any,
) -> bytes:
    """A provider event body, in the provider's wire format."""
    payload = {"payment_id": payment_id, **data}
    if kind == "payment.succeeded":
        payload.setdefault("transaction_id", transaction_id)
    body = {"id": event_id, "type": kind, "created": int(time.time()), "data": payload}
    return json.dumps(body).encode()


def signed_headers(app, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    secret = app.config["GATEWAY_WEBHOOK_SECRET"]
    return {
        "Content-Type": "application/json",
        signing.HEADER: signing.sign(secret, body, timestamp=timestamp),
    }


def deliver(client, app, body: bytes, **sign_options: Any):
    """POST a correctly signed notification to the webhook."""
    return client.post(WEBHOOK_URL, data=body, headers=signed_headers(app, body, **sign_options))
