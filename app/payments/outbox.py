"""The refund outbox's rows: a refund decided here reaches the payment provider exactly once.

::

    staff refund ──(one transaction: payment refunded + provider_requests row)──▶ pending
    pending ──worker claims (lease), calls provider with the row's idempotency key──▶
        answer                    → succeeded (provider_reference, completed_at = provider's time)
        answer, not yet settled   → pending with provider_reference; asked again after
                                    OUTBOX_SETTLE_POLL_SECONDS (refund_progress)
        timeout / 5xx             → pending again, next_attempt_at = now + backoff
        4xx (refused for good)    → failed (staff attention page)
        worker dies mid-call      → pending; the lease runs out; sent again with the same key
    refund.succeeded notification → succeeded (whichever of answer and notification comes first)
    refund.failed notification    → failed (staff attention page)

This module writes a row in the refund's own transaction (``add_refund``) and applies the
provider's ``refund.succeeded`` notification to it; ``app.payments.refund_worker`` sends the
rows. Why it cannot refund twice: the provider acts at most once per idempotency key, and
the key is fixed in the row when the refund is decided, so every attempt (a retry, a
restarted worker, two workers) asks for the same refund. Why it cannot be lost: the row is
written in the refund's own transaction, and stays pending until the provider's answer is
recorded.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Payment, ProviderRequest, ProviderRequestState, money, utcnow
from app.payments.errors import MalformedWebhook
from app.payments.events import PaymentEventType
from app.payments.provider import ProviderEvent, RefundNotice
from app.payments.records import add_event
from app.payments.requests import storable

REFUND = "refund"


# --- writing: inside the refund's transaction ------------------------------------------------


def add_refund(
    session: Session, payment: Payment, reason: str, amount: Decimal | None = None
) -> ProviderRequest:
    """Queue a refund of ``amount`` pesos (default: the whole payment) in the caller's
    transaction (the payment is locked; ``app.payments.refunds`` checks the amount).

    The idempotency key is ``refund-payment-<payment id>-<n>-<12 hex>``: n counts this
    payment's refund requests, and the random tail keeps two databases that share a
    provider account (staging and production, a restored backup) from sending the
    same key for different refunds. Fixed now, stored, sent on every attempt.
    """
    earlier = session.scalar(
        select(func.count())
        .select_from(ProviderRequest)
        .where(ProviderRequest.payment_id == payment.id, ProviderRequest.kind == REFUND)
    )
    request = ProviderRequest(
        kind=REFUND,
        payment_id=payment.id,
        amount=money(payment.amount if amount is None else amount),
        currency=payment.currency,
        reason=reason,
        idempotency_key=f"{REFUND}-payment-{payment.id}-{earlier + 1}-{secrets.token_hex(6)}",
        state=ProviderRequestState.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(request)
    return request


def mark_succeeded(
    session: Session, request: ProviderRequest, reference: str, when: datetime, *, actor: str
) -> None:
    """Record that the provider performed ``request`` (its ``reference``, at ``when``)."""
    request.state = ProviderRequestState.SUCCEEDED
    request.provider_reference = storable(reference)
    request.completed_at = when
    request.leased_until = None
    request.lease_token = None
    request.last_error = None
    add_request_event(
        session,
        request,
        PaymentEventType.REFUNDED_AT_PROVIDER,
        actor,
        refund_id=request.provider_reference,
    )


def add_request_event(
    session: Session, request: ProviderRequest, kind: str, actor: str, **data: Any
) -> None:
    """An audit event about ``request`` (its payment, id and amount, plus ``data``)."""
    add_event(
        session,
        kind,
        actor=actor,
        payment_id=request.payment_id,
        request_id=request.id,
        amount=str(money(request.amount)),
        **data,
    )


# --- the provider's refund.succeeded notification ----------------------------------------------


def read_refund_notice(event: ProviderEvent) -> RefundNotice:
    """The refund an event reports: as its adapter read it, else from the sandbox's format.

    :raise MalformedWebhook: the event lacks a refund id, key, amount or time.
    """
    if event.refund is not None:
        return event.refund
    data = event.payload.get("data") or {}
    refund_id, key = data.get("refund_id"), data.get("idempotency_key")
    created = event.payload.get("created")
    if not all(isinstance(v, str) and 1 <= len(v) <= 255 for v in (refund_id, key)):
        raise MalformedWebhook("A refund event needs data.refund_id and data.idempotency_key.")
    if isinstance(created, bool) or not isinstance(created, int) or created < 0:
        raise MalformedWebhook("A refund event needs a whole-number created time.")
    try:
        amount = money(data.get("amount"))
    except (InvalidOperation, TypeError, ValueError):
        raise MalformedWebhook("A refund event needs data.amount as a decimal string.") from None
    if not amount.is_finite() or amount <= 0:
        raise MalformedWebhook("A refund event needs a positive data.amount.")
    try:
        when = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedWebhook("The refund event's created time is out of range.") from None
    return RefundNotice(refund_id, key, amount, when)


def apply_refund_notice(
    session: Session, payment: Payment, notice: RefundNotice, *, actor: str
) -> tuple[str, str]:
    """Record the provider's word that a refund happened; return (outcome, detail).

    Runs under the payment's locks (``lifecycle.run``). A notice that matches no
    request of ours, or another amount, is answered ``refund_unmatched``: the attention page
    lists it for staff.
    """
    request = _request_for(session, payment, notice.idempotency_key)
    if request is None:
        return "refund_unmatched", (
            f"The provider refunded {notice.amount} ({notice.refund_id}) but no refund was "
            "requested here with that key: check it at the provider."
        )
    if money(request.amount) != notice.amount:
        return "refund_unmatched", (
            f"The provider refunded {notice.amount} ({notice.refund_id}); "
            f"{money(request.amount)} was requested: check it at the provider."
        )
    if request.state == ProviderRequestState.SUCCEEDED:
        return "unchanged", ""
    mark_succeeded(session, request, notice.refund_id, notice.created_at, actor=actor)
    return PaymentEventType.REFUNDED_AT_PROVIDER, ""


def apply_refund_failure(
    session: Session, payment: Payment, notice: RefundNotice, detail: str, *, actor: str
) -> None:
    """Record the provider's word that a refund it had accepted failed (under the payment's
    locks): the request carrying ``notice``'s key becomes ``failed`` with ``detail``, so the
    worker stops asking and the staff attention page shows it, even if an earlier answer had
    been read as settled. A notice that matches no request of ours changes nothing here."""
    request = _request_for(session, payment, notice.idempotency_key)
    if request is None or request.state == ProviderRequestState.FAILED:
        return
    request.state = ProviderRequestState.FAILED
    request.leased_until = None
    request.lease_token = None
    request.last_error = storable(detail[:500])
    add_request_event(session, request, PaymentEventType.REFUND_REFUSED, actor, detail=detail)


def _request_for(session: Session, payment: Payment, key: str) -> ProviderRequest | None:
    """``payment``'s outbox row sent with idempotency ``key``, locked, read fresh."""
    return session.execute(
        select(ProviderRequest)
        .where(ProviderRequest.idempotency_key == key, ProviderRequest.payment_id == payment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
