"""Every change of a payment after its creation, each applied exactly once.

::

    pending ──confirm──▶ completed ──refund──▶ refunded
       │ ╲──decline──▶ failed ─────╮
       │ ╲──cancel───▶ cancelled ──┼─late success, no other active payment──▶ completed
       └──expire──▶ expired ───────╯   (otherwise a duplicate_charge)

    failed, expired, cancelled ──delete──▶ the same, soft-deleted (``deleted_at``; staff, a reason)

Every transition runs the same way:

1. lock the consultation row, then the payment row, always in that order (the
   checkout locks the consultation too), so two transitions never wait for each
   other in opposite orders;
2. re-read the payment (``populate_existing``) and decide from what it is now,
   not from what the caller saw before the lock (the rules: ``decisions.py``; the
   steps: ``transitions.py`` and, for a reported success, ``confirmation.py``);
3. change it, write a payment event, and let ``version_id_col`` bump the version;
4. commit through ``transaction()``. A refusal that must leave a trace (a
   duplicate charge) is committed first and raised afterwards.

Who may ask: staff users, or trusted in-process callers that name themselves
with a string (``"gateway:sandbox"``, ``"system:expire-stale"``). Patients may
not confirm or refund, whatever the interface; they may cancel their own
pending payment (``cancel``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db import transaction
from app.models import (
    Consultation,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Role,
    TaxRecord,
    User,
    utcnow,
)
from app.payments import dberrors, hooks
from app.payments.confirmation import confirm_locked
from app.payments.decisions import CONFIRMABLE, Reported
from app.payments.errors import (
    Forbidden,
    PaymentNotDeletable,
    PaymentNotFound,
    PaymentsBusy,
    StaleVersion,
    TransactionIdInUse,
)
from app.payments.events import PaymentEventType
from app.payments.refunds import RefundExceedsRemaining, refund_locked
from app.payments.requests import (
    MAX_ID,
    parse_confirm_request,
    parse_refund_reason,
    parse_refund_request,
)
from app.payments.transitions import (
    Transition,
    cancel_locked,
    charge_transaction_ids,
    deletable,
    delete_locked,
    fail_locked,
    record_event,
    refunded_payment_for,
    reported_charges,
)

# The lifecycle's whole surface: the calls below, and the locked steps and names the
# webhook and the pages use from the modules that hold them.
__all__ = [
    "CONFIRMABLE",
    "PaymentNotDeletable",
    "RefundExceedsRemaining",
    "Reported",
    "Transition",
    "actor_label",
    "cancel",
    "charge_transaction_ids",
    "confirm",
    "confirm_locked",
    "deletable",
    "delete",
    "expire",
    "expire_stale",
    "fail",
    "fail_locked",
    "is_stale",
    "lock_payment",
    "refund",
    "refund_locked",
    "refunded_payment_for",
    "reported_charges",
    "run",
    "stale_cutoff",
]

log = logging.getLogger("app.payments.lifecycle")

T = TypeVar("T")
# A staff user, or a trusted in-process caller naming itself ("gateway:sandbox").
Actor = User | str


# --- public service calls ---------------------------------------------------------------


def confirm(
    payment_id: int,
    *,
    transaction_id: Any,
    receipt_url: Any = None,
    expected_version: Any = None,
    actor: Actor,
) -> Transition:
    """Mark the payment paid by the provider's ``transaction_id``, exactly once.

    Pending or processing becomes completed and its invoice paid; failed, expired
    or cancelled too when nothing else holds the consultation (``confirm_locked``
    and ``decisions.decide_confirmation`` give the whole rule). The same transaction id again returns the current state
    and changes nothing.

    :raise Forbidden: 403, the actor is not staff.  :raise PaymentNotFound: 404.
    :raise InvalidPaymentRequest: 422, a field is malformed.
    :raise StaleVersion: 409, ``expected_version`` is not the current version.
    :raise DuplicateCharge: 409, a charge that cannot complete this payment (recorded
        for staff first).  :raise TransactionIdInUse: 409.  :raise PaymentsBusy: 503.
    """
    label = actor_label(actor, "confirm")
    req = parse_confirm_request(
        transaction_id=transaction_id, receipt_url=receipt_url, expected_version=expected_version
    )
    return run(payment_id, partial(confirm_locked, req=req, actor=label)).raise_refusal()


def fail(payment_id: int, *, reason: str, actor: Actor) -> Transition:
    """The provider declined: the payment becomes failed and its invoice void.

    A failed payment is not active, so the patient may start a new one.

    :raise Forbidden: 403.  :raise PaymentNotFound: 404.
    :raise InvalidTransition: 409, the payment was already completed or refunded.
    """
    label = actor_label(actor, "decline")
    return run(payment_id, partial(fail_locked, reason=reason, actor=label)).raise_refusal()


def cancel(payment_id: int, *, user: User) -> Transition:
    """The patient cancels their own pending payment: it becomes cancelled, its invoice void.

    A cancelled payment is not active, so the patient may pay again (another method,
    say). Cancelling a cancelled payment changes nothing. A provider success that
    arrives afterwards still completes it (``decide_confirmation``): money is never dropped.

    :raise PaymentNotFound: 404, missing or another patient's (staff included: staff
        do not cancel a patient's checkout).
    :raise InvalidTransition: 409, the payment is no longer pending (already paid,
        declined, expired, or being confirmed by the provider); ``payment_status``
        says which.  :raise PaymentsBusy: 503.
    """
    step = partial(cancel_locked, owner_id=user.id, actor=f"user:{user.id}")
    return run(payment_id, step).raise_refusal()


def refund(
    payment_id: int,
    reason: Any,
    actor: Actor,
    *,
    amount: Any = None,
    expected_version: Any = None,
) -> Transition:
    """Refund ``amount`` pesos of a completed payment (a decimal string or Decimal; None:
    all that remains refundable), with a reason. Each refund issues a credit memo and queues
    its own provider request (``refunds.refund_locked``); the payment becomes refunded when
    nothing is left. Refunding a refunded payment again without an amount changes nothing.
    This is the one call every interface uses.

    :raise Forbidden: 403, the actor is not a manager.  :raise PaymentNotFound: 404.
    :raise InvalidPaymentRequest: 422, no usable reason, or a malformed amount or version.
    :raise InvalidTransition: 409, the payment is not completed.
    :raise RefundExceedsRemaining: 409, more than is left to refund (``refundable``).
    :raise StaleVersion: 409, ``expected_version`` is not the payment's version.
    :raise PaymentsBusy: 503.
    """
    label = actor_label(actor, "refund", Role.MANAGER)
    req = parse_refund_request(reason=reason, amount=amount, expected_version=expected_version)
    step = partial(
        refund_locked,
        reason=req.reason,
        actor=label,
        amount=req.amount,
        expected_version=req.expected_version,
    )
    return run(payment_id, step).raise_refusal()


def delete(payment_id: int, reason: Any, actor: Actor) -> Transition:
    """Soft-delete a payment that moved no money (failed, expired or cancelled), with a reason.

    Nothing is removed: the payment, its void invoice, tax record and events stay, and a
    ``deleted`` event records who and why. ``deleted_at`` takes it out of the staff lists
    and totals (the "deleted" filter shows it again). Deleting it again changes nothing.
    The rule is here, not in a page, so every interface is refused alike.

    :raise Forbidden: 403, the actor is not a manager.  :raise PaymentNotFound: 404.
    :raise InvalidPaymentRequest: 422, no usable reason.
    :raise PaymentNotDeletable: 409, pending, processing, completed or refunded, or the
        provider reported money taken for it (``reported_charges``).
    :raise PaymentsBusy: 503.
    """
    label = actor_label(actor, "delete", Role.MANAGER)
    text = parse_refund_reason(reason)
    return run(payment_id, partial(delete_locked, reason=text, actor=label)).raise_refusal()


def stale_cutoff(ttl_seconds: int | None = None) -> datetime:
    """Now minus ``ttl_seconds`` (default: PAYMENT_PENDING_TTL), an aware UTC datetime:
    a pending payment created before it was abandoned (``Payment.is_stale_pending``)."""
    if ttl_seconds is None:
        ttl_seconds = current_app.config["PAYMENT_PENDING_TTL"]
    return utcnow() - timedelta(seconds=ttl_seconds)


def is_stale(payment: Payment) -> bool:
    """A pending, not soft-deleted payment older than PAYMENT_PENDING_TTL was abandoned."""
    return payment.is_stale_pending(stale_cutoff())


def expire(session: Session, payment: Payment, *, actor: str) -> bool:
    """Expire an abandoned payment inside the caller's transaction (the checkout).

    Takes the same locks as every transition and re-checks after them: returns
    False, changing nothing, when the payment is no longer a stale pending one
    (a confirmation got there first). ``payment`` is refreshed either way.
    """
    return _expire_locked(session, lock_payment(session, payment.id), actor=actor)


def expire_stale(*, actor: str = "system:expire-stale") -> int:
    """Expire every abandoned pending payment; return how many were expired.

    One short transaction per payment, so a long run never holds many locks and
    a payment that is busy right now is simply left for the next run.
    """
    with transaction() as session:
        candidates = session.scalars(
            select(Payment.id).where(Payment.is_stale_pending(stale_cutoff())).order_by(Payment.id)
        ).all()
    expired = 0
    for payment_id in candidates:
        try:
            if run(payment_id, partial(_expire_locked, actor=actor)):
                expired += 1
        except PaymentsBusy:
            log.warning("payment.expire_skipped payment_id=%s reason=busy", payment_id)
    return expired


# --- the locked steps, also used inside the webhook's transaction -----------------------


def lock_payment(session: Session, payment_id: int) -> Payment:
    """Lock the payment's consultation, then the payment, and return it re-read.

    :raise PaymentNotFound: 404.
    """
    if not 1 <= payment_id <= MAX_ID:
        raise PaymentNotFound(f"Payment {payment_id} does not exist.")
    # A payment never moves to another consultation, so this unlocked read is safe.
    consultation_id = session.scalar(
        select(Payment.consultation_id).where(Payment.id == payment_id)
    )
    if consultation_id is None:
        raise PaymentNotFound(f"Payment {payment_id} does not exist.")
    # Why the consultation first: the checkout locks it before it looks for an active
    # payment, and a late success must look at the consultation's other payments.
    session.execute(
        select(Consultation.id).where(Consultation.id == consultation_id).with_for_update()
    )
    payment = session.execute(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    _refresh_children(session, payment_id)
    hooks.reached(hooks.AFTER_TRANSITION_LOCK, payment_id=payment_id)
    return payment


def run(payment_id: int, step: Callable[[Session, Payment], T]) -> T:
    """Lock the payment (``lock_payment``) and run ``step`` on it, in one transaction.

    Database refusals become domain errors.

    No lost race on the one-active-payment index can reach here: every checkout's
    insert takes a key-share lock on its consultation (the foreign key), which waits
    for, and is waited for by, the consultation lock ``lock_payment`` takes, so a
    late success always sees a new payment committed first, and a retry here would
    never run (tests/integration/test_guard_steps.py shows the wait).
    """
    try:
        with transaction() as session:
            return step(session, lock_payment(session, payment_id))
    except IntegrityError as exc:
        if dberrors.violates(exc, dberrors.TRANSACTION_ID_UNIQUE):
            raise TransactionIdInUse(
                "That transaction id already confirmed another payment."
            ) from exc
        raise
    except OperationalError as exc:
        if dberrors.is_busy(exc):
            raise PaymentsBusy() from exc
        raise
    except StaleDataError as exc:
        # Only reachable if a writer skipped the row lock: version_id_col caught it.
        raise StaleVersion("The payment changed while it was being updated.") from exc


def actor_label(actor: Actor, action: str, role: Role = Role.CASHIER) -> str:
    """The audit name of ``actor``; users without ``role`` (patients; cashiers for a
    manager's action) are refused.

    :raise Forbidden: 403.
    """
    if isinstance(actor, str):
        return actor
    if not actor.is_staff:
        raise Forbidden(f"Only staff can {action} a payment.")
    if not actor.has_role(role):
        raise Forbidden(f"Only a manager can {action} a payment.")
    return f"user:{actor.id}"


# --- private steps ----------------------------------------------------------------------


def _expire_locked(session: Session, payment: Payment, *, actor: str) -> bool:
    if not is_stale(payment):
        return False
    payment.status = PaymentStatus.EXPIRED
    payment.invoice.status = InvoiceStatus.VOID
    record_event(session, payment, PaymentEventType.EXPIRED, actor)
    session.flush()
    return True


def _refresh_children(session: Session, payment_id: int) -> None:
    # The invoice and tax record change only under the payment's lock: re-read them
    # now in case this session loaded them before the lock was taken.
    for model in (Invoice, TaxRecord):
        session.execute(
            select(model)
            .where(model.payment_id == payment_id)
            .execution_options(populate_existing=True)
        ).all()
