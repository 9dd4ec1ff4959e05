"""Create a payment exactly once. The HTML checkout and the JSON API both call this.

Order of a request (each step is a function below):
1. validate (pure, then the consultation: 404 / 403 / 422), nothing written;
2. replay a finished key from Redis (the fast path);
3. in one transaction: claim the key durably, lock the consultation, re-check
   for an active payment, create payment + tax record + invoice + event, and
   store the final response on the key;
4. after commit, cache the response in Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select
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
from app.payments.records import (
    add_event,
    add_invoice,
    add_tax_record,
    invoice_json,
    payment_json,
)
from app.payments.requests import PaymentRequest
from app.payments.vat import current_vat

log = logging.getLogger("app.payments")

MAX_ATTEMPTS = 3
# A fresh transaction can succeed where these failed.
RETRYABLE_SQLSTATES = {dberrors.SERIALIZATION_FAILURE, dberrors.DEADLOCK_DETECTED}


# Where a created payment can be read (the Location of a 201).
PAYMENT_PATH = "/api/v1/payments/{id}"
KEY_EXPIRES_HEADER = "Idempotency-Key-Expires"


@dataclass(frozen=True)
class Outcome:
    """The final answer to a create request, exactly as stored on its idempotency key.

    ``body`` is the JSON text sent (replays send the same bytes); ``headers`` are
    the answer's own (Content-Type, Location on a 201, and ``Idempotency-Key-Expires``,
    an HTTP-date, when a key was sent).
    """

    status: int
    body: str
    headers: tuple[tuple[str, str], ...]
    payment_id: int | None
    replayed: bool = False

    @property
    def created(self) -> bool:
        return self.status == 201


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


def _replayed(stored: idempotency.StoredResponse) -> Outcome:
    return Outcome(stored.status, stored.body, stored.headers, stored.payment_id, replayed=True)


def create_payment(user: User, req: PaymentRequest) -> Outcome:
    """Create the payment for ``req`` at most once; repeats get the first outcome.

    :raise InvalidPaymentRequest: 422, the amount does not match the fee.
    :raise ConsultationNotFound: 404.  :raise NotYourConsultation: 403.
    :raise KeyReuseMismatch: 422, the key was used for a different request.
    :raise PaymentInProgress: 409, the same key is still running past the wait bound.
    :raise PaymentsBusy: 503, the database stayed locked or unavailable past its bound.
    """
    started = time.perf_counter()
    guard = current_guard()
    key_hash = (
        idempotency.hash_key(req.idempotency_key) if req.idempotency_key and guard.use_key else None
    )
    fp = idempotency.fingerprint(req.fingerprint_parts())
    trace = _Trace(user.id, req.consultation_id, key_hash, started)
    try:
        if key_hash and guard.use_cache:
            cached = _replay_from_cache(user, req, key_hash, fp, trace)
            if cached is not None:
                trace.done(cached)
                return cached
        outcome = _with_retries(lambda: _create_once(user, req, guard, key_hash, fp, trace), req)
    except Exception as exc:
        trace.refused(exc)
        raise
    if key_hash and guard.use_cache:
        # trace.user_id, not user.id: the commit expired ``user``, and reading an
        # attribute would reload it (a pool checkout and two more round trips).
        cache.put_response(trace.user_id, key_hash, _stored(outcome, fp).cache_entry())
    trace.done(outcome)
    return outcome


def _replay_from_cache(
    user: User, req: PaymentRequest, key_hash: str, fp: str, trace: _Trace
) -> Outcome | None:
    entry = cache.get_response(user.id, key_hash)
    if entry is None:
        return None
    stored = idempotency.StoredResponse.from_cache(entry)
    if stored.fingerprint != fp:
        raise KeyReuseMismatch(_MISMATCH_DETAIL)
    try:
        with transaction() as session:
            _add_replay_event(session, user, req, stored, source="redis")
    except SQLAlchemyError as exc:
        # The answer is already known; losing one audit row must not fail the replay.
        log.warning("payment.replay_event_lost error=%s", type(exc).__name__)
    trace.source = "redis"
    return _replayed(stored)


_MISMATCH_DETAIL = N_(
    "This idempotency key was already used for a different payment request. "
    "Use a new key for a new request."
)


def _create_once(
    user: User,
    req: PaymentRequest,
    guard: Guard,
    key_hash: str | None,
    fp: str,
    trace: _Trace,
) -> Outcome:
    expires = idempotency.expires_at(current_app.config["IDEMPOTENCY_TTL"]) if key_hash else None
    with _redis_guard(guard, req.consultation_id), transaction() as session:
        consultation = _validated_consultation(session, user, req)
        if key_hash:
            replay = _claim_or_replay(session, user, req, key_hash, fp, expires, trace)
            if replay is not None:
                return replay
            hooks.reached(hooks.AFTER_CLAIM, consultation_id=consultation.id)
        if guard.row_lock:
            hooks.reached(hooks.BEFORE_LOCK, consultation_id=consultation.id)
            _lock_consultation(session, consultation.id)
        existing = active_payment_for(session, consultation.id) if guard.check_active else None
        # expire() re-checks under the payment's lock: a confirmation may have won.
        if (
            existing is not None
            and lifecycle.is_stale(existing)
            and lifecycle.expire(session, existing, actor="system:checkout")
        ):
            existing = None
        if existing is not None:
            outcome = _refuse_for_existing(session, user, existing, expires)
        elif (
            guard.check_active
            and lifecycle.refunded_payment_for(session, consultation.id) is not None
        ):
            raise ConsultationRefunded(REFUNDED_DETAIL, consultation_id=consultation.id)
        else:
            outcome = _insert_payment(session, user, consultation, req, key_hash, expires)
        if key_hash:
            idempotency.finish(
                session, user_id=user.id, key_hash=key_hash, response=_stored(outcome, fp)
            )
    return outcome


def _validated_consultation(session: Session, user: User, req: PaymentRequest) -> Consultation:
    consultation = access.payable_consultation(session, user, req.consultation_id)
    total = current_vat(consultation.fee).total
    if req.amount is not None and req.amount != total:
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
    return consultation


def _claim_or_replay(
    session: Session,
    user: User,
    req: PaymentRequest,
    key_hash: str,
    fp: str,
    expires: datetime,
    trace: _Trace,
) -> Outcome | None:
    """Own the key until ``expires`` (None), or return the outcome the key's first request
    finished with."""
    wait_started = time.perf_counter()
    try:
        record = None
        # Twice at most: a purge may delete an expired row between the claim and the read.
        for _ in range(2):
            if idempotency.claim(
                session, user_id=user.id, key_hash=key_hash, fingerprint=fp, expires=expires
            ):
                return None
            record = idempotency.load_for_update(session, user_id=user.id, key_hash=key_hash)
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
        idempotency.take_over_expired(record, fingerprint=fp, expires=expires)
        return None
    if record.fingerprint != fp:
        raise KeyReuseMismatch(_MISMATCH_DETAIL)
    stored = idempotency.stored_response(record)
    _add_replay_event(session, user, req, stored, source="database")
    trace.source = "database"
    return _replayed(stored)


# Why: two checkouts for one consultation must not both pass the active-payment
# check below. populate_existing re-reads the row we already loaded. Both
# statements are built once (SQLAlchemy memoizes a statement's cache key).
_LOCK_CONSULTATION = (
    select(Consultation.id)
    .where(Consultation.id == bindparam("consultation_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ACTIVE_PAYMENT = (
    select(Payment)
    .where(
        Payment.consultation_id == bindparam("consultation_id"),
        Payment.is_active,
    )
    .execution_options(populate_existing=True)
)


REFUNDED_DETAIL = N_(
    "The payment for this consultation was refunded, so it cannot be paid again here. "
    "Please contact the clinic if you want to book or pay again."
)


def _lock_consultation(session: Session, consultation_id: int) -> None:
    try:
        session.execute(_LOCK_CONSULTATION, {"consultation_id": consultation_id})
    except OperationalError as exc:
        if dberrors.is_lock_timeout(exc):
            raise PaymentsBusy() from exc
        raise


def active_payment_for(session: Session, consultation_id: int) -> Payment | None:
    """The consultation's one active payment, if any (pending, processing or completed)."""
    return session.execute(
        _ACTIVE_PAYMENT, {"consultation_id": consultation_id}
    ).scalar_one_or_none()


def _refuse_for_existing(
    session: Session, user: User, existing: Payment, expires: datetime | None
) -> Outcome:
    add_event(
        session,
        "refused",
        actor=f"user:{user.id}",
        payment_id=existing.id,
        consultation_id=existing.consultation_id,
        reason="active_payment_exists",
    )
    return answer(409, conflict_body(existing), existing.id, expires)


def conflict_body(existing: Payment) -> dict[str, Any]:
    return {
        "type": "/problems/payment-exists",
        "title": "This consultation already has a payment",
        "status": 409,
        "detail": (
            f"Consultation {existing.consultation_id} already has a {existing.status} "
            f"payment (#{existing.id})."
        ),
        "existing_payment_id": existing.id,
        "existing_payment_status": existing.status,
    }


def _insert_payment(
    session: Session,
    user: User,
    consultation: Consultation,
    req: PaymentRequest,
    key_hash: str | None,
    expires: datetime | None,
) -> Outcome:
    vat = current_vat(consultation.fee)
    payment = Payment(
        user_id=user.id,
        consultation_id=consultation.id,
        amount=vat.total,
        currency=consultation.currency,
        payment_method=req.payment_method,
        status=PaymentStatus.PENDING,
        idempotency_key_hash=key_hash,
    )
    session.add(payment)
    session.flush()  # the id names the invoice; a unique-index violation surfaces here
    add_tax_record(session, payment, vat)
    invoice = add_invoice(session, payment)
    add_event(
        session,
        "created",
        actor=f"user:{user.id}",
        payment_id=payment.id,
        consultation_id=consultation.id,
        method=req.payment_method,
        amount=str(payment.amount),
    )
    session.flush()
    body = {
        "data": {"payment": payment_json(payment), "invoice": invoice_json(invoice)},
        "message": "Payment created.",
    }
    return answer(201, body, payment.id, expires)


def _add_replay_event(
    session: Session, user: User, req: PaymentRequest, stored, *, source: str
) -> None:
    add_event(
        session,
        "replayed",
        actor=f"user:{user.id}",
        payment_id=stored.payment_id,
        consultation_id=req.consultation_id,
        source=source,
        replayed_status=stored.status,
    )


def _stored(outcome: Outcome, fp: str) -> idempotency.StoredResponse:
    return idempotency.StoredResponse(
        outcome.status, outcome.body, outcome.headers, fp, outcome.payment_id
    )


class _redis_guard:
    """The redis_lock strategy's lock; a no-op for the other guards."""

    def __init__(self, guard: Guard, consultation_id: int) -> None:
        self._cm = cache.consultation_lock(consultation_id) if guard.redis_lock else None

    def __enter__(self):
        if self._cm is None:
            return False
        try:
            return self._cm.__enter__()
        except cache.LockNotAcquired as exc:
            raise PaymentsBusy() from exc

    def __exit__(self, *exc_info):
        if self._cm is None:
            return False
        return self._cm.__exit__(*exc_info)


def _with_retries(attempt: Callable[[], Outcome], req: PaymentRequest) -> Outcome:
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
                return _conflict_after_race(req)
        except OperationalError as exc:
            retryable = dberrors.sqlstate(exc) in RETRYABLE_SQLSTATES or exc.connection_invalidated
            if last or not retryable:
                raise PaymentsBusy() from exc
            log.warning("payment.retry sqlstate=%s attempt=%d", dberrors.sqlstate(exc), number)
    raise AssertionError("unreachable")


def _conflict_after_race(req: PaymentRequest) -> Outcome:
    existing = active_payment_for(db.session, req.consultation_id)
    db.session.rollback()
    if existing is None:
        raise PaymentsBusy()
    return answer(409, conflict_body(existing), existing.id, None)


class _Trace:
    """One structured log line per outcome: ids, a key hash prefix, the duration."""

    def __init__(self, user_id: int, consultation_id: int, key_hash: str | None, started: float):
        self.user_id = user_id
        self.consultation_id = consultation_id
        self.key = key_hash[:16] if key_hash else "-"
        self.started = started
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
