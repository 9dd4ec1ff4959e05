"""Create a payment exactly once. The HTML checkout and the JSON API both call this.

Order of a request (``create_payment`` reads top to bottom; each step is a function below):
1. the request, built once (``Checkout``, create_request.py): who, what, its key's hash
   and fingerprint;
2. replay a finished key from Redis (replay.py; the fast path: no database at all);
3. in one transaction (``_create_once``), phases that each return the answer or the next
   phase (``Step``): read the consultation with its active payment (404 / 403 / 422);
   refuse a payment already visible there at once (its key stores the 409, no lock);
   claim the key durably (``decide_key``: owned, taken over, replayed or mismatched); let
   the guard serialize (the row lock), re-check for an active or refunded payment
   (``decide_checkout``), create payment + tax record + invoice + event, and store the
   final answer on the key;
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

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.db import transaction
from app.extensions import db
from app.i18n import N_
from app.models import IdempotencyKey, Payment, PaymentStatus, User, utcnow
from app.payments import access, cache, dberrors, hooks, idempotency, lifecycle, payable
from app.payments.create_request import KEY_MISMATCH_DETAIL, Checkout, answer, conflict_body
from app.payments.decisions import (
    CheckoutFacts,
    CheckoutVerdict,
    KeyFacts,
    KeyVerdict,
    decide_checkout,
    decide_key,
)
from app.payments.discounts import add_sale_discount
from app.payments.errors import (
    ConsultationRefunded,
    KeyReuseMismatch,
    PaymentInProgress,
    PaymentsBusy,
)
from app.payments.idempotency import Outcome
from app.payments.payable import Payable, PaymentFacts
from app.payments.records import (
    add_records,
    invoice_json,
    payment_json,
)
from app.payments.replay import replay_cached
from app.payments.requests import PaymentRequest
from app.payments.trace import CreateTrace

__all__ = ["Outcome", "create_payment"]

log = logging.getLogger("app.payments")

MAX_ATTEMPTS = 3
# A fresh transaction can succeed where these failed.
RETRYABLE_SQLSTATES = {dberrors.SERIALIZATION_FAILURE, dberrors.DEADLOCK_DETECTED}


def create_payment(
    user: User | int, req: PaymentRequest, *, prefetched: cache.PrefetchedAnswer | None = None
) -> Outcome:
    """Create the payment for ``req`` at most once; repeats get the first outcome.

    ``user``: the paying user, or only their id (a replay from Redis then reads nothing
    else; the user row is read only if a consultation is not theirs, to tell 403 from 404).
    ``prefetched``: the Redis copy of this key's answer, when the caller read it already
    (the API reads it with the token, ``cache.token_and_response``): not read again.

    :raise InvalidPaymentRequest: 422, the amount does not match the fee.
    :raise ConsultationNotFound: 404.  :raise NotYourConsultation: 403.
    :raise ConsultationRefunded: 409, the consultation's payment was refunded.
    :raise KeyReuseMismatch: 422, the key was used for a different request.
    :raise PaymentInProgress: 409, the same key is still running past the wait bound.
    :raise PaymentsBusy: 503, the database stayed locked or unavailable past its bound.
    """
    checkout = Checkout.build(user if isinstance(user, int) else user.id, req)
    trace = CreateTrace(checkout.user_id, checkout.consultation_id, checkout.key_hash)
    try:
        outcome = replay_cached(checkout, trace, prefetched) if checkout.cached else None
        if outcome is None:  # nothing in Redis: the database answers
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


@dataclass(frozen=True)
class Step:
    """What a phase of a create leads to: the request's answer (``outcome``), or, when it
    has none, the next phase."""

    outcome: Outcome | None = None

    @property
    def answered(self) -> bool:
        return self.outcome is not None


NEXT_PHASE = Step()


def _create_once(checkout: Checkout, trace: CreateTrace) -> Outcome:
    """One transaction, its phases in order; each returns the answer or the next phase."""
    # after_commit: what a guard holds until the transaction is over (the redis_lock).
    with ExitStack() as after_commit, transaction() as session:
        consultation = _consultation_and_active_payment(session, checkout)
        step = _refuse_early(session, checkout, consultation.active, trace)
        if step.answered:
            return step.outcome
        step = _claim_key(session, checkout, trace)
        if step.answered:
            return step.outcome
        hooks.reached(hooks.BEFORE_LOCK, consultation_id=consultation.id)
        checkout.guard.serialize(session, consultation.id, after_commit)
        outcome = _create_under_guard(session, checkout, consultation)
        if checkout.key_hash:
            idempotency.finish(
                session, user_id=checkout.user_id, key_hash=checkout.key_hash, outcome=outcome
            )
    return outcome


def _consultation_and_active_payment(session: Session, checkout: Checkout) -> Payable:
    """The payable consultation (access rules, the amount) with its committed active payment,
    in one round trip: the access rules and the early refusal read the same snapshot.

    :raise ConsultationNotFound, NotYourConsultation, InvalidPaymentRequest: see above.
    """
    consultation = payable.read(
        session, checkout.consultation_id, with_active=checkout.guard.check_active
    )
    patient_id = consultation.patient_id if consultation is not None else None
    access.check_payer(session, checkout.user_id, checkout.consultation_id, patient_id)
    consultation.check_amount(checkout.req.amount)
    return consultation


def _refuse_early(
    session: Session, checkout: Checkout, visible: PaymentFacts | None, trace: CreateTrace
) -> Step:
    """Refuse a request for a consultation whose payment is already committed, without
    taking its lock: nothing would be written but the refusal. With a key, the refusal is
    stored on it in the claim itself (one statement); the next phase when the key already
    exists (a repeat, or its first request still running): the claim then answers."""
    active = visible if visible is not None and not lifecycle.is_stale(visible) else None
    facts = CheckoutFacts(active_payment_id=active.id if active is not None else None)
    if decide_checkout(facts) is not CheckoutVerdict.CONFLICT:
        return NEXT_PHASE  # a refund, if any, is for the re-check under the guard
    outcome = answer(409, conflict_body(active), active.id, checkout.expires)
    if checkout.key_hash and not idempotency.store_refusal(
        session,
        user_id=checkout.user_id,
        key_hash=checkout.key_hash,
        fingerprint=checkout.fingerprint,
        expires=checkout.expires,
        outcome=outcome,
    ):
        return NEXT_PHASE
    trace.source = "committed"
    return Step(outcome)


def _claim_key(session: Session, checkout: Checkout, trace: CreateTrace) -> Step:
    """Own the key until ``checkout.expires`` (the next phase), or answer with the outcome
    the key's first request finished with (``decide_key``).

    :raise KeyReuseMismatch: 422.  :raise PaymentInProgress: 409.
    """
    if not checkout.key_hash:
        return NEXT_PHASE
    record = _claim_or_read(session, checkout, trace)
    if record is None:
        facts = KeyFacts(claimed=True)
    else:
        facts = KeyFacts(
            claimed=False,
            expired=record.expires_at <= utcnow(),
            same_fingerprint=record.fingerprint == checkout.fingerprint,
        )
    match decide_key(facts):
        case KeyVerdict.MISMATCH:
            raise KeyReuseMismatch(KEY_MISMATCH_DETAIL)
        case KeyVerdict.REPLAY:
            idempotency.count_replay(record)
            trace.source = "database"
            return Step(idempotency.stored_outcome(record))
        case KeyVerdict.TAKE_OVER:
            idempotency.take_over_expired(
                record, fingerprint=checkout.fingerprint, expires=checkout.expires
            )
    hooks.reached(hooks.AFTER_CLAIM, consultation_id=checkout.consultation_id)
    return NEXT_PHASE


def _claim_or_read(
    session: Session, checkout: Checkout, trace: CreateTrace
) -> IdempotencyKey | None:
    """Claim the key (None), or read its existing row under the row's lock, waiting for
    its first request to finish.

    :raise PaymentInProgress: the first request still holds it past the wait bound.
    """
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
    return record


_ACTIVE_PAYMENT = (
    select(Payment)
    .where(Payment.consultation_id == bindparam("consultation_id"), Payment.is_active)
    .execution_options(populate_existing=True)
)

REFUNDED_DETAIL = N_(
    "The payment for this consultation was refunded, so it cannot be paid again here. "
    "Please contact the clinic if you want to book or pay again."
)


def _create_under_guard(session: Session, checkout: Checkout, consultation: Payable) -> Outcome:
    """Under the guard: re-read the consultation's payments, then refuse for an active
    payment, refuse a refunded consultation, or create the payment (``decide_checkout``)."""
    if not checkout.guard.check_active:
        return _insert_payment(session, checkout, consultation)
    found = payable.active_or_refunded(session, consultation.id)
    existing = next((p for p in found if p.is_active), None)
    # expire() re-checks under the payment's lock: a confirmation may have won.
    if (
        existing is not None
        and lifecycle.is_stale(existing)
        and lifecycle.expire(session, existing, actor="system:checkout")
    ):
        existing = None
    facts = CheckoutFacts(
        active_payment_id=existing.id if existing is not None else None,
        refunded=any(p.status == PaymentStatus.REFUNDED for p in found),
    )
    match decide_checkout(facts):
        case CheckoutVerdict.CONFLICT:
            return answer(409, conflict_body(existing), existing.id, checkout.expires)
        case CheckoutVerdict.REFUNDED:
            raise ConsultationRefunded(REFUNDED_DETAIL, consultation_id=consultation.id)
    return _insert_payment(session, checkout, consultation)


def active_payment_for(session: Session, consultation_id: int) -> Payment | None:
    """The consultation's one active payment, if any (pending, processing or completed)."""
    return session.execute(
        _ACTIVE_PAYMENT, {"consultation_id": consultation_id}
    ).scalar_one_or_none()


def _insert_payment(session: Session, checkout: Checkout, consultation: Payable) -> Outcome:
    """Payment + tax record + invoice + "created" event (one statement on PostgreSQL), as
    Core inserts: only the new ids come back; the answer is rendered from the values written."""
    hooks.reached(hooks.BEFORE_INSERT, session=session, consultation_id=consultation.id)
    sale, card = consultation.sale, consultation.card
    now = utcnow()
    # Transient: never added to the session, so no unit of work and no flush.
    payment = Payment(
        user_id=checkout.user_id,
        consultation_id=consultation.id,
        amount=sale.total,
        currency=consultation.currency,
        payment_method=checkout.req.payment_method,
        status=PaymentStatus.PENDING,
        version=1,
        idempotency_key_hash=checkout.key_hash,
        created_at=now,
        updated_at=now,
    )
    # One statement on PostgreSQL; a unique-index violation surfaces here.
    invoice = add_records(session, payment, sale.vat_record(), actor=f"user:{checkout.user_id}")
    if card is not None:
        add_sale_discount(session, payment, sale, card)
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
