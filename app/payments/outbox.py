"""The refund outbox: a refund reaches the payment provider exactly once.

::

    staff refund ──(one transaction: payment refunded + provider_requests row)──▶ pending
    pending ──worker claims (lease), calls provider with the row's idempotency key──▶
        answer                    → succeeded (provider_reference, completed_at = provider's time)
        timeout / 5xx             → pending again, next_attempt_at = now + backoff
        4xx (refused for good)    → failed (staff attention page)
        worker dies mid-call      → pending; the lease runs out; sent again with the same key
    refund.succeeded notification → succeeded (whichever of answer and notification comes first)

Why it cannot refund twice: the provider acts at most once per idempotency key,
and the key is fixed in the row when the refund is decided, so every attempt (a
retry, a restarted worker, two workers) asks for the same refund. Why it cannot
be lost: the row is written in the refund's own transaction, and stays pending
until the provider's answer is recorded.

Why no call is made inside a transaction: a provider call can take seconds or
hang; holding row locks (and a pooled connection) that long would block staff
and checkouts. The claim commits first; the answer is recorded in a second
transaction, under the same locks as every payment transition (consultation,
payment, then the request row), so it never deadlocks with a notification.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.db import transaction
from app.extensions import db
from app.gateway.base import (
    PaymentGateway,
    ProviderCallError,
    ProviderEvent,
    RefundResult,
)
from app.models import Payment, ProviderRequest, ProviderRequestState, money, utcnow
from app.payments.errors import MalformedWebhook, PaymentsBusy
from app.payments.records import add_event
from app.payments.requests import storable

log = logging.getLogger("app.payments.outbox")

REFUND = "refund"
WORKER = "system:send-outbox"


# --- writing: inside the refund's transaction ------------------------------------------------


def add_refund(session: Session, payment: Payment, reason: str) -> ProviderRequest:
    """Queue a refund of the whole payment, in the caller's transaction (the payment is locked).

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
        amount=money(payment.amount),
        currency=payment.currency,
        reason=reason,
        idempotency_key=f"{REFUND}-payment-{payment.id}-{earlier + 1}-{secrets.token_hex(6)}",
        state=ProviderRequestState.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(request)
    return request


# --- sending: the worker ------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A pending row this worker holds until ``leased_until``; ``payment`` is detached."""

    request_id: int
    payment_id: int
    payment: Payment
    amount: Decimal
    idempotency_key: str
    lease_token: str
    attempt: int


@dataclass
class SendReport:
    """What one pass did, by outcome: sent, retrying, refused, already_recorded, lease_lost, busy."""

    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        sent = self.outcomes.get("sent", 0) + self.outcomes.get("already_recorded", 0)
        return (
            f"Sent {sent} {'refund' if sent == 1 else 'refunds'} to the provider; "
            f"{self.outcomes.get('retrying', 0) + self.outcomes.get('busy', 0)} to retry; "
            f"{self.outcomes.get('refused', 0)} refused."
        )


def send_pending(*, limit: int = 100, gateway: PaymentGateway | None = None) -> SendReport:
    """Send due pending rows, one at a time, at most ``limit``; return what happened.

    Safe to run in several processes at once: each row is claimed with
    ``FOR UPDATE SKIP LOCKED`` and a lease (``OUTBOX_LEASE_SECONDS``).
    """
    if gateway is None:
        from app.gateway.provider import current_gateway  # provider -> webhooks -> lifecycle -> us

        gateway = current_gateway()
    report = SendReport()
    for _ in range(limit):
        claim = claim_next()
        if claim is None:
            break
        report.count(send(claim, gateway))
    return report


def claim_next() -> Claim | None:
    """Take the next due row: lock it (skipping rows others hold), lease it, commit."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    with transaction() as session:
        request = session.execute(
            select(ProviderRequest)
            .where(
                ProviderRequest.state == ProviderRequestState.PENDING,
                ProviderRequest.next_attempt_at <= now,
                or_(ProviderRequest.leased_until.is_(None), ProviderRequest.leased_until <= now),
            )
            .order_by(ProviderRequest.next_attempt_at, ProviderRequest.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if request is None:
            return None
        request.attempts += 1
        request.leased_until = now + lease
        request.lease_token = secrets.token_hex(16)
        payment = session.execute(
            select(Payment)
            .where(Payment.id == request.payment_id)
            .execution_options(populate_existing=True)
        ).scalar_one()
        claim = Claim(
            request.id,
            payment.id,
            payment,
            money(request.amount),
            request.idempotency_key,
            request.lease_token,
            request.attempts,
        )
        session.flush()
        # Detached, so reading it during the call cannot open a transaction.
        session.expunge(payment)
    return claim


def send(claim: Claim, gateway: PaymentGateway) -> str:
    """Call the provider for ``claim`` (outside any transaction), then record its answer."""
    if db.session().in_transaction():
        raise RuntimeError("The provider must not be called inside a database transaction.")
    log.info(
        "outbox.send request_id=%s payment_id=%s attempt=%s",
        claim.request_id,
        claim.payment_id,
        claim.attempt,
    )
    try:
        result = gateway.refund(claim.payment, claim.amount, claim.idempotency_key)
    except ProviderCallError as error:
        outcome = _record(claim, partial(_record_failure, claim=claim, error=error))
    else:
        outcome = _record(claim, partial(_record_result, claim=claim, result=result))
    log.info("outbox.%s request_id=%s", outcome, claim.request_id)
    return outcome


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts − 1), capped (seconds settings)."""
    config = current_app.config
    base, cap = config["OUTBOX_RETRY_BASE_SECONDS"], config["OUTBOX_RETRY_MAX_SECONDS"]
    return timedelta(seconds=min(cap, base * 2 ** min(max(attempts - 1, 0), 32)))


def run_forever(
    *, interval: float, limit: int = 100, stop: threading.Event | None = None, echo=None
) -> None:
    """Send, then sleep ``interval`` seconds when there was nothing to do, until ``stop`` is set."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = send_pending(limit=limit)
        except Exception:  # a database restart must not end the loop; the next pass retries
            log.exception("outbox.pass_failed")
            report = SendReport()
        finally:
            db.session.remove()
        if report.total and echo is not None:
            echo(report.summary())
        if report.total < limit:
            stop.wait(interval)


def _record(claim: Claim, step) -> str:
    from app.payments import lifecycle  # lifecycle imports this module

    try:
        return lifecycle.run(claim.payment_id, step)
    except PaymentsBusy:
        # The lease runs out and the row is sent again with the same key: nothing is lost.
        return "busy"


def _locked_request(session: Session, request_id: int) -> ProviderRequest:
    return session.execute(
        select(ProviderRequest)
        .where(ProviderRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _record_result(
    session: Session, payment: Payment, *, claim: Claim, result: RefundResult
) -> str:
    request = _locked_request(session, claim.request_id)
    if request.state == ProviderRequestState.SUCCEEDED:
        return "already_recorded"  # the provider's notification got here first
    _succeeded(session, request, result.refund_id, result.created_at, actor=WORKER)
    return "sent"


def _record_failure(
    session: Session, payment: Payment, *, claim: Claim, error: ProviderCallError
) -> str:
    request = _locked_request(session, claim.request_id)
    if request.state != ProviderRequestState.PENDING:
        return "already_recorded"
    if request.lease_token != claim.lease_token:
        return "lease_lost"  # our lease ran out and another worker holds the row now
    request.leased_until = None
    request.lease_token = None
    # The provider's words: kept, with any character PostgreSQL cannot store replaced.
    request.last_error = storable(str(error)[:500])
    if error.retryable:
        request.next_attempt_at = utcnow() + backoff(request.attempts)
        return "retrying"
    request.state = ProviderRequestState.FAILED
    _event(session, request, "refund_refused", WORKER, detail=request.last_error)
    return "refused"


def _succeeded(
    session: Session, request: ProviderRequest, reference: str, when: datetime, *, actor: str
) -> None:
    request.state = ProviderRequestState.SUCCEEDED
    request.provider_reference = storable(reference)
    request.completed_at = when
    request.leased_until = None
    request.lease_token = None
    request.last_error = None
    _event(session, request, "refunded_at_provider", actor, refund_id=request.provider_reference)


def _event(session: Session, request: ProviderRequest, kind: str, actor: str, **data: Any) -> None:
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


@dataclass(frozen=True)
class RefundNotice:
    """A verified ``refund.succeeded`` event's data."""

    refund_id: str
    idempotency_key: str
    amount: Decimal
    created_at: datetime


def read_refund_notice(event: ProviderEvent) -> RefundNotice:
    """:raise MalformedWebhook: the event lacks a refund id, key, amount or time."""
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
    request = session.execute(
        select(ProviderRequest)
        .where(
            ProviderRequest.idempotency_key == notice.idempotency_key,
            ProviderRequest.payment_id == payment.id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
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
    _succeeded(session, request, notice.refund_id, notice.created_at, actor=actor)
    return "refunded_at_provider", ""
