"""Create a payment exactly once. The HTML checkout and the JSON API both call this.

Order of a request (``create_payment`` reads top to bottom; each step is a function below):
1. the request, built once (``Checkout``): who, what, its key's hash and fingerprint;
2. replay a finished key from Redis (the fast path: no database at all);
3. in one transaction: read the consultation with its active payment (404 / 403 / 422);
   a payment already visible there is refused at once (its key stores the 409, no lock);
   otherwise claim the key durably, let the guard serialize (the row lock), re-check for
   an active or refunded payment, create payment + tax record + invoice + event, and
   store the final answer on the key;
4. after commit, cache the answer in Redis.

What decides is always the database: the claim, the lock, the re-check and the partial
unique index. Redis and the early refusal only answer what is already committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.http import http_date

from app import metrics
from app.db import transaction
from app.extensions import db
from app.i18n import N_, Phrase
from app.models import (
    Consultation,
    Payment,
    PaymentStatus,
    User,
    utcnow,
)
from app.payments import access, cache, dberrors, hooks, idempotency, lifecycle
from app.payments.errors import (
    ConsultationRefunded,
    InvalidPaymentRequest,
    KeyReuseMismatch,
    PaymentInProgress,
    PaymentsBusy,
)
from app.payments.guards import Guard, current_guard
from app.payments.idempotency import KEY_EXPIRES_HEADER, Outcome
from app.payments.records import (
    add_records,
    invoice_json,
    payment_json,
)
from app.payments.requests import PaymentRequest
from app.payments.vat import current_vat
from app.problem_types import PROBLEM_TYPES

__all__ = ["Outcome", "create_payment", "replay_from_cache"]

log = logging.getLogger("app.payments")

MAX_ATTEMPTS = 3
# A fresh transaction can succeed where these failed.
RETRYABLE_SQLSTATES = {dberrors.SERIALIZATION_FAILURE, dberrors.DEADLOCK_DETECTED}

# Where a created payment can be read (the Location of a 201).
PAYMENT_PATH = "/api/v1/payments/{id}"


@dataclass(frozen=True)
class Checkout:
    """One create request, built once: everything the steps below need to know about it.

    ``key_hash`` is None when no key was sent or the guard keeps none; ``expires`` is when
    a key claimed by this request stops being honoured (UTC).
    """

    user_id: int
    req: PaymentRequest
    guard: Guard
    key_hash: str | None
    fingerprint: str
    expires: datetime | None

    @classmethod
    def build(cls, user_id: int, req: PaymentRequest) -> Checkout:
        guard = current_guard()
        keyed = req.idempotency_key is not None and guard.use_key
        return cls(
            user_id,
            req,
            guard,
            idempotency.hash_key(req.idempotency_key) if keyed else None,
            idempotency.fingerprint(req.fingerprint_parts()),
            idempotency.expires_at(current_app.config["IDEMPOTENCY_TTL"]) if keyed else None,
        )

    @property
    def consultation_id(self) -> int:
        return self.req.consultation_id

    @property
    def cached(self) -> bool:
        """Whether Redis may answer (and learn) this request's outcome."""
        return self.key_hash is not None and self.guard.use_cache


def answer(
    status: int, body: dict[str, Any], payment_id: int | None, expires: datetime | None
) -> Outcome:
    """Render an outcome once, to the text and headers every replay will repeat."""
    headers = [("Content-Type", idempotency.content_type(status))]
    if status == 201 and payment_id is not None:
        headers.append(("Location", PAYMENT_PATH.format(id=payment_id)))
    if expires is not None:
        headers.append((KEY_EXPIRES_HEADER, http_date(expires)))
    return Outcome(status, idempotency.encode_body(body), tuple(headers), payment_id)


def create_payment(user: User | int, req: PaymentRequest) -> Outcome:
    """Create the payment for ``req`` at most once; repeats get the first outcome.

    ``user``: the paying user, or only their id (a replay from Redis then reads nothing
    else; the user row is read only if a consultation is not theirs, to tell 403 from 404).

    :raise InvalidPaymentRequest: 422, the amount does not match the fee.
    :raise ConsultationNotFound: 404.  :raise NotYourConsultation: 403.
    :raise ConsultationRefunded: 409, the consultation's payment was refunded.
    :raise KeyReuseMismatch: 422, the key was used for a different request.
    :raise PaymentInProgress: 409, the same key is still running past the wait bound.
    :raise PaymentsBusy: 503, the database stayed locked or unavailable past its bound.
    """
    checkout = Checkout.build(user if isinstance(user, int) else user.id, req)
    trace = _Trace(checkout)
    try:
        outcome = _replay_cached(checkout, trace) if checkout.cached else None
        if outcome is None:
            outcome = _with_retries(lambda: _create_once(checkout, trace), checkout)
            if checkout.cached:
                # A database replay has counted the key's replay already.
                text = outcome.cache_text(checkout.fingerprint, replay_counted=outcome.replayed)
                cache.put_response(checkout.user_id, checkout.key_hash, text)
    except Exception as exc:
        trace.refused(exc)
        raise
    trace.done(outcome)
    return outcome


def replay_from_cache(user_id: int, req: PaymentRequest) -> Outcome | None:
    """The stored answer of ``req``'s key from Redis, or None: no database round trip.

    For a door that can skip its own reads when the answer is already known (the HTML
    form skips loading the session's user). None when there is no key, the guard keeps
    no cache, or Redis has nothing.

    :raise KeyReuseMismatch: 422, the key was used for a different request.
    """
    checkout = Checkout.build(user_id, req)
    if not checkout.cached:
        return None
    trace = _Trace(checkout)
    try:
        outcome = _replay_cached(checkout, trace)
    except KeyReuseMismatch as exc:
        trace.refused(exc)
        raise
    if outcome is not None:
        trace.done(outcome)
    return outcome


def _replay_cached(checkout: Checkout, trace: _Trace) -> Outcome | None:
    found = cache.get_response(checkout.user_id, checkout.key_hash)
    if found is None:
        return None
    outcome, fingerprint, counted = found
    if fingerprint != checkout.fingerprint:
        raise KeyReuseMismatch(_MISMATCH_DETAIL)
    if not counted:
        _count_first_replay(checkout, outcome)
    trace.source = "redis"
    return outcome.again()


def _count_first_replay(checkout: Checkout, outcome: Outcome) -> None:
    """A key's first replay from Redis marks its row (once); later ones touch no database."""
    try:
        with transaction() as session:
            idempotency.count_first_replay(
                session, user_id=checkout.user_id, key_hash=checkout.key_hash
            )
    except SQLAlchemyError as exc:
        # The answer is already known; losing the count must not fail the replay.
        log.warning("payment.replay_count_lost error=%s", type(exc).__name__)
        return
    text = outcome.cache_text(checkout.fingerprint, replay_counted=True)
    cache.put_response(checkout.user_id, checkout.key_hash, text)


_MISMATCH_DETAIL = N_(
    "This idempotency key was already used for a different payment request. "
    "Use a new key for a new request."
)


def _create_once(checkout: Checkout, trace: _Trace) -> Outcome:
    # after_commit: what a guard holds until the transaction is over (the redis_lock).
    with ExitStack() as after_commit, transaction() as session:
        consultation, visible = _consultation_and_active_payment(session, checkout)
        if visible is not None and not lifecycle.is_stale(visible):
            refused = _refuse_early(session, checkout, visible, trace)
            if refused is not None:
                return refused
        if checkout.key_hash:
            replay = _claim_or_replay(session, checkout, trace)
            if replay is not None:
                return replay
            hooks.reached(hooks.AFTER_CLAIM, consultation_id=consultation.id)
        hooks.reached(hooks.BEFORE_LOCK, consultation_id=consultation.id)
        checkout.guard.serialize(session, consultation.id, after_commit)
        outcome = _decide(session, checkout, consultation)
        if checkout.key_hash:
            idempotency.finish(
                session, user_id=checkout.user_id, key_hash=checkout.key_hash, outcome=outcome
            )
    return outcome


# The consultation and, in the same round trip, the active payment already committed for
# it (if any): the access rules and the early refusal read the same snapshot.
_CONSULTATION_AND_ACTIVE = (
    select(Consultation, Payment)
    .outerjoin(Payment, and_(Payment.consultation_id == Consultation.id, Payment.is_active))
    .where(Consultation.id == bindparam("consultation_id"))
)


def _consultation_and_active_payment(
    session: Session, checkout: Checkout
) -> tuple[Consultation, Payment | None]:
    """The payable consultation (access rules, the amount) and its visible active payment.

    :raise ConsultationNotFound, NotYourConsultation, InvalidPaymentRequest: see above.
    """
    visible = None
    if checkout.guard.check_active:
        row = session.execute(
            _CONSULTATION_AND_ACTIVE, {"consultation_id": checkout.consultation_id}
        ).first()
        # The consultation is now in the session: the access rule below reads no row again.
        visible = row[1] if row is not None else None
    consultation = access.payable_consultation(session, checkout.user_id, checkout.consultation_id)
    total = current_vat(consultation.fee).total
    amount = checkout.req.amount
    if amount is not None and amount != total:
        what = "consultation fee" if total == consultation.fee else "fee plus VAT"
        detail = (
            N_("The amount must equal the consultation fee of %(total)s PHP.")
            if total == consultation.fee
            else N_("The amount must equal the fee plus VAT of %(total)s PHP.")
        )
        raise InvalidPaymentRequest(
            Phrase(detail, total=total),
            errors={"amount": f"Must equal the {what} ({total})."},
        )
    return consultation, visible


def _refuse_early(
    session: Session, checkout: Checkout, existing: Payment, trace: _Trace
) -> Outcome | None:
    """Refuse a request for a consultation whose payment is already committed, without
    taking its lock: nothing would be written but the refusal. With a key, the refusal is
    stored on it in the claim itself (one statement); None when the key already exists
    (a repeat, or its first request still running): the claim path then answers."""
    outcome = answer(409, conflict_body(existing), existing.id, checkout.expires)
    if checkout.key_hash and not idempotency.store_refusal(
        session,
        user_id=checkout.user_id,
        key_hash=checkout.key_hash,
        fingerprint=checkout.fingerprint,
        expires=checkout.expires,
        outcome=outcome,
    ):
        return None
    trace.source = "committed"
    return outcome


def _claim_or_replay(session: Session, checkout: Checkout, trace: _Trace) -> Outcome | None:
    """Own the key until ``checkout.expires`` (None), or return the outcome the key's first
    request finished with."""
    wait_started = time.perf_counter()
    user_id, key_hash, fingerprint = checkout.user_id, checkout.key_hash, checkout.fingerprint
    try:
        record = None
        # Twice at most: a purge may delete an expired row between the claim and the read.
        for _ in range(2):
            if idempotency.claim(
                session,
                user_id=user_id,
                key_hash=key_hash,
                fingerprint=fingerprint,
                expires=checkout.expires,
            ):
                return None
            hooks.reached(hooks.KEY_TAKEN, session=session, user_id=user_id, key_hash=key_hash)
            record = idempotency.load_for_update(session, user_id=user_id, key_hash=key_hash)
            if record is not None:
                break
        if record is None:
            raise PaymentsBusy()
    except OperationalError as exc:
        if dberrors.is_lock_timeout(exc):
            raise PaymentInProgress(
                N_(
                    "A payment with this idempotency key is still being processed. "
                    "Try again in a moment."
                ),
                retry_after=PaymentInProgress.retry_after,
            ) from exc
        raise
    trace.waited_ms = (time.perf_counter() - wait_started) * 1000
    if record.expires_at <= utcnow():
        idempotency.take_over_expired(record, fingerprint=fingerprint, expires=checkout.expires)
        return None
    if record.fingerprint != fingerprint:
        raise KeyReuseMismatch(_MISMATCH_DETAIL)
    idempotency.count_replay(record)
    trace.source = "database"
    return idempotency.stored_outcome(record)


# The re-check after the guard serialized: the consultation's active payment and any
# refunded one, in one statement. populate_existing: rows read before are read afresh.
_ACTIVE_OR_REFUNDED = (
    select(Payment)
    .where(
        Payment.consultation_id == bindparam("consultation_id"),
        or_(Payment.is_active, Payment.status == PaymentStatus.REFUNDED),
        Payment.deleted_at.is_(None),
    )
    .execution_options(populate_existing=True)
)
_ACTIVE_PAYMENT = (
    select(Payment)
    .where(Payment.consultation_id == bindparam("consultation_id"), Payment.is_active)
    .execution_options(populate_existing=True)
)

REFUNDED_DETAIL = N_(
    "The payment for this consultation was refunded, so it cannot be paid again here. "
    "Please contact the clinic if you want to book or pay again."
)


def _decide(session: Session, checkout: Checkout, consultation: Consultation) -> Outcome:
    """Under the guard: refuse for an active payment, refuse a refunded consultation, or
    create the payment."""
    if not checkout.guard.check_active:
        return _insert_payment(session, checkout, consultation)
    found = session.scalars(_ACTIVE_OR_REFUNDED, {"consultation_id": consultation.id}).all()
    existing = next((p for p in found if p.is_active), None)
    # expire() re-checks under the payment's lock: a confirmation may have won.
    if (
        existing is not None
        and lifecycle.is_stale(existing)
        and lifecycle.expire(session, existing, actor="system:checkout")
    ):
        existing = None
    if existing is not None:
        return answer(409, conflict_body(existing), existing.id, checkout.expires)
    if any(p.status == PaymentStatus.REFUNDED for p in found):
        raise ConsultationRefunded(REFUNDED_DETAIL, consultation_id=consultation.id)
    return _insert_payment(session, checkout, consultation)


def active_payment_for(session: Session, consultation_id: int) -> Payment | None:
    """The consultation's one active payment, if any (pending, processing or completed)."""
    return session.execute(
        _ACTIVE_PAYMENT, {"consultation_id": consultation_id}
    ).scalar_one_or_none()


def conflict_body(existing: Payment) -> dict[str, Any]:
    kind = PROBLEM_TYPES["payment-exists"]
    return {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": (
            f"Consultation {existing.consultation_id} already has a {existing.status} "
            f"payment (#{existing.id})."
        ),
        "existing_payment_id": existing.id,
        "existing_payment_status": existing.status,
    }


def _insert_payment(session: Session, checkout: Checkout, consultation: Consultation) -> Outcome:
    """Payment + tax record + invoice + "created" event (one statement on PostgreSQL), as
    Core inserts: only the new ids come back; the answer is rendered from the values written."""
    hooks.reached(hooks.BEFORE_INSERT, session=session, consultation_id=consultation.id)
    vat = current_vat(consultation.fee)
    now = utcnow()
    # Transient: never added to the session, so no unit of work and no flush.
    payment = Payment(
        user_id=checkout.user_id,
        consultation_id=consultation.id,
        amount=vat.total,
        currency=consultation.currency,
        payment_method=checkout.req.payment_method,
        status=PaymentStatus.PENDING,
        version=1,
        idempotency_key_hash=checkout.key_hash,
        created_at=now,
        updated_at=now,
    )
    # One statement on PostgreSQL; a unique-index violation surfaces here.
    invoice = add_records(session, payment, vat, actor=f"user:{checkout.user_id}")
    hooks.reached(
        hooks.AFTER_INSERT, session=session, consultation_id=consultation.id, payment_id=payment.id
    )
    body = {
        "data": {"payment": payment_json(payment), "invoice": invoice_json(invoice)},
        "message": "Payment created.",
    }
    return answer(201, body, payment.id, checkout.expires)


def _with_retries(attempt: Callable[[], Outcome], checkout: Checkout) -> Outcome:
    """Retry what a fresh transaction can fix: deadlocks, serialization failures,
    a dropped connection, and a lost race on the partial unique index (the retry
    then sees the winner and answers 409)."""
    for number in range(1, MAX_ATTEMPTS + 1):
        last = number == MAX_ATTEMPTS
        try:
            return attempt()
        except IntegrityError as exc:
            if not dberrors.violates(exc, dberrors.ACTIVE_PAYMENT_INDEX):
                raise
            if last:
                return _conflict_after_race(checkout)
        except OperationalError as exc:
            retryable = dberrors.sqlstate(exc) in RETRYABLE_SQLSTATES or exc.connection_invalidated
            if last or not retryable:
                raise PaymentsBusy() from exc
            log.warning("payment.retry sqlstate=%s attempt=%d", dberrors.sqlstate(exc), number)
    raise AssertionError("unreachable")


def _conflict_after_race(checkout: Checkout) -> Outcome:
    existing = active_payment_for(db.session, checkout.consultation_id)
    db.session.rollback()
    if existing is None:
        raise PaymentsBusy()
    return answer(409, conflict_body(existing), existing.id, None)


class _Trace:
    """One structured log line per outcome: ids, a key hash prefix, the duration."""

    def __init__(self, checkout: Checkout):
        self.user_id = checkout.user_id
        self.consultation_id = checkout.consultation_id
        self.key = checkout.key_hash[:16] if checkout.key_hash else "-"
        self.started = time.perf_counter()
        self.source = None
        self.waited_ms = 0.0

    def _emit(self, level: int, outcome: str, payment_id: Any = "-", **more: Any) -> None:
        duration = (time.perf_counter() - self.started) * 1000
        metrics.payment_outcome(outcome, more.get("source"), duration, self.waited_ms)
        extra = "".join(f" {k}={v}" for k, v in more.items())
        log.log(
            level,
            "payment.outcome outcome=%s payment_id=%s consultation_id=%s user_id=%s "
            "key_hash=%s duration_ms=%.1f%s",
            outcome,
            payment_id,
            self.consultation_id,
            self.user_id,
            self.key,
            duration,
            extra,
        )

    def done(self, outcome: Outcome) -> None:
        if outcome.replayed:
            name = "replayed"
        elif outcome.created:
            name = "created"
        else:
            name = "conflict"
        more: dict[str, Any] = {"status": outcome.status}
        if self.source:
            more["source"] = self.source
        if self.waited_ms > 50:
            more["waited_ms"] = f"{self.waited_ms:.0f}"
        self._emit(logging.INFO, name, outcome.payment_id, **more)

    def refused(self, exc: Exception) -> None:
        names = {
            KeyReuseMismatch: "key_mismatch",
            PaymentInProgress: "in_progress",
            PaymentsBusy: "lock_timeout",
        }
        name = next((n for cls, n in names.items() if isinstance(exc, cls)), "refused")
        self._emit(logging.WARNING, name, error=type(exc).__name__)
