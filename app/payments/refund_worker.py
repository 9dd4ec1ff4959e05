"""The refund worker: sends the outbox's pending rows (``app.payments.outbox``) to the provider.

Run by ``flask payments send-outbox`` (``app/payments/cli.py``), which passes the
configured gateway (``app.gateway.provider.current_gateway``); this module never picks a
provider itself.

Why no call is made inside a transaction: a provider call can take seconds or hang;
holding row locks (and a pooled connection) that long would block staff and checkouts.
The claim commits first; the answer is recorded in a second transaction, under the same
locks as every payment transition (consultation, payment, then the request row, through
``lifecycle.run``), so it never deadlocks with a notification. Safe to run in several
processes at once: each row is claimed with ``FOR UPDATE SKIP LOCKED`` and a lease
(``OUTBOX_LEASE_SECONDS``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import partial

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.db import transaction
from app.extensions import db
from app.models import Payment, ProviderRequest, ProviderRequestState, money, utcnow
from app.payments import lifecycle
from app.payments.errors import PaymentsBusy
from app.payments.events import PaymentEventType
from app.payments.outbox import add_request_event, mark_succeeded
from app.payments.provider import PaymentGateway, ProviderCallError, RefundResult
from app.payments.requests import storable

log = logging.getLogger("app.payments.outbox")

WORKER = "system:send-outbox"


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
    #: The provider's refund id once it accepted the refund unsettled; then it is asked how
    #: that refund stands rather than sent again.
    accepted_refund_id: str | None = None


@dataclass
class SendReport:
    """What one pass did, by outcome: sent, accepted (not yet settled), retrying, refused,
    already_recorded, lease_lost, busy."""

    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        accepted = self.outcomes.get("accepted", 0)
        sent = self.outcomes.get("sent", 0) + self.outcomes.get("already_recorded", 0) + accepted
        waiting = f" ({accepted} accepted, not yet returned)" if accepted else ""
        return (
            f"Sent {sent} {'refund' if sent == 1 else 'refunds'} to the provider{waiting}; "
            f"{self.outcomes.get('retrying', 0) + self.outcomes.get('busy', 0)} to retry; "
            f"{self.outcomes.get('refused', 0)} refused."
        )


def send_pending(gateway: PaymentGateway, *, limit: int = 100) -> SendReport:
    """Send due pending rows to ``gateway``, one at a time, at most ``limit``; return what
    happened."""
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
            request.provider_reference,
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
        # A later attempt may follow one that reached the provider: refund_once looks first
        # when the provider has no idempotency keys (PayMongo), so it never refunds twice.
        if claim.accepted_refund_id:
            result = gateway.refund_progress(
                claim.payment, claim.accepted_refund_id, claim.idempotency_key
            )
        else:
            result = gateway.refund_once(
                claim.payment, claim.amount, claim.idempotency_key, retry=claim.attempt > 1
            )
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
    gateway: PaymentGateway,
    *,
    interval: float,
    limit: int = 100,
    stop: threading.Event | None = None,
    echo=None,
) -> None:
    """Send to ``gateway``, then sleep ``interval`` seconds when there was nothing to do,
    until ``stop`` is set."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = send_pending(gateway, limit=limit)
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
    if request.state != ProviderRequestState.PENDING:
        return "already_recorded"  # the provider's notification got here first
    if not result.settled:
        # Accepted, not yet returned: the patient's money is on its way, not back. Asked again
        # later (or settled by the provider's notification first).
        request.provider_reference = storable(result.refund_id)
        request.leased_until = None
        request.lease_token = None
        request.last_error = None
        seconds = current_app.config["OUTBOX_SETTLE_POLL_SECONDS"]
        request.next_attempt_at = utcnow() + timedelta(seconds=seconds)
        return "accepted"
    mark_succeeded(session, request, result.refund_id, result.created_at, actor=WORKER)
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
    add_request_event(
        session, request, PaymentEventType.REFUND_REFUSED, WORKER, detail=request.last_error
    )
    return "refused"
