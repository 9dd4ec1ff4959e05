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
   not from what the caller saw before the lock;
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
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
    PaymentEvent,
    PaymentStatus,
    TaxRecord,
    User,
    utcnow,
)
from app.payments import dberrors, hooks, outbox
from app.payments.errors import (
    AmountMismatch,
    DuplicateCharge,
    Forbidden,
    InvalidTransition,
    PaymentError,
    PaymentNotDeletable,
    PaymentNotFound,
    PaymentsBusy,
    StaleVersion,
    TransactionIdInUse,
)
from app.payments.records import add_event, invoice_json, payment_json, tax_json
from app.payments.requests import (
    MAX_ID,
    ConfirmRequest,
    parse_confirm_request,
    parse_refund_reason,
)

log = logging.getLogger("app.payments.lifecycle")

T = TypeVar("T")
# A staff user, or a trusted in-process caller naming itself ("gateway:sandbox").
Actor = User | str

CONFIRMABLE = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# Not charged yet as far as we knew; a provider success for them is a late success.
UNCHARGED_ENDS = (PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED)


@dataclass(frozen=True)
class Reported:
    """What a provider said it captured, as sent (unparsed); None when it did not say."""

    amount: Any = None
    currency: Any = None


@dataclass(frozen=True)
class Transition:
    """What a transition did (``outcome``) and the payment as it is now."""

    outcome: str
    payment: dict[str, Any]
    invoice: dict[str, Any] | None
    tax_record: dict[str, Any] | None
    refusal: PaymentError | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in (
            "confirmed",
            "failed",
            "expired",
            "cancelled",
            "refunded",
            "deleted",
        )

    def raise_refusal(self) -> Transition:
        """Raise the refusal, if any; called once the transaction has committed."""
        if self.refusal is not None:
            raise self.refusal
        return self


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
    gives the whole rule). The same transaction id again returns the current state
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
    arrives afterwards still completes it (``confirm_locked``): money is never dropped.

    :raise PaymentNotFound: 404, missing or another patient's (staff included: staff
        do not cancel a patient's checkout).
    :raise InvalidTransition: 409, the payment is no longer pending (already paid,
        declined, expired, or being confirmed by the provider); ``payment_status``
        says which.  :raise PaymentsBusy: 503.
    """
    step = partial(cancel_locked, owner_id=user.id, actor=f"user:{user.id}")
    return run(payment_id, step).raise_refusal()


def refund(payment_id: int, reason: Any, actor: Actor) -> Transition:
    """Refund a completed payment: payment refunded, invoice refunded, tax reversed.

    Refunding a refunded payment again changes nothing. This is the call the
    staff pages use.

    :raise Forbidden: 403, the actor is not staff.  :raise PaymentNotFound: 404.
    :raise InvalidPaymentRequest: 422, no usable reason.
    :raise InvalidTransition: 409, the payment is not completed.  :raise PaymentsBusy: 503.
    """
    label = actor_label(actor, "refund")
    text = parse_refund_reason(reason)
    return run(payment_id, partial(refund_locked, reason=text, actor=label)).raise_refusal()


def delete(payment_id: int, reason: Any, actor: Actor) -> Transition:
    """Soft-delete a payment that moved no money (failed, expired or cancelled), with a reason.

    Nothing is removed: the payment, its void invoice, tax record and events stay, and a
    ``deleted`` event records who and why. ``deleted_at`` takes it out of the staff lists
    and totals (the "deleted" filter shows it again). Deleting it again changes nothing.
    The rule is here, not in a page, so every interface is refused alike.

    :raise Forbidden: 403, the actor is not staff.  :raise PaymentNotFound: 404.
    :raise InvalidPaymentRequest: 422, no usable reason.
    :raise PaymentNotDeletable: 409, pending, processing, completed or refunded, or the
        provider reported money taken for it (``reported_charges``).
    :raise PaymentsBusy: 503.
    """
    label = actor_label(actor, "delete")
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


def confirm_locked(
    session: Session,
    payment: Payment,
    *,
    req: ConfirmRequest,
    actor: str,
    reported: Reported | None = None,
) -> Transition:
    """Decide and apply a success report (a webhook's or staff's) on a locked payment.

    The rule for money the provider says it captured (docs/lifecycle.md): it is never
    dropped. It completes the payment when the payment is pending or processing, or
    failed, expired or cancelled with no other active payment and no refund on the
    consultation (a late success). Otherwise it is a ``duplicate_charge`` for staff to
    refund at the provider. A reported amount or currency that differs from the
    payment's is recorded as ``amount_mismatch`` and never applied.
    """
    if payment.transaction_id == req.transaction_id and payment.status in (
        PaymentStatus.COMPLETED,
        PaymentStatus.REFUNDED,
    ):
        # The charge we already recorded (and perhaps refunded), reported again.
        return _snapshot(session, payment, "unchanged")
    if req.expected_version is not None and req.expected_version != payment.version:
        return _refused(
            session,
            payment,
            StaleVersion(
                f"Payment {payment.id} is at version {payment.version}, "
                f"not {req.expected_version}. Read it again before confirming.",
                current_version=payment.version,
                payment_status=payment.status,
            ),
        )
    mismatch = _mismatch(payment, reported)
    if mismatch is not None:
        return _amount_mismatch(session, payment, req, actor, mismatch)
    owner = _transaction_owner(session, payment, req.transaction_id)
    if owner is not None:
        # The charge already completed payment ``owner``: it is not lost, nor new.
        return _refused(
            session,
            payment,
            TransactionIdInUse(
                f"Transaction {req.transaction_id} already confirmed payment {owner}."
            ),
        )
    if payment.status in CONFIRMABLE:
        return _complete(session, payment, req, actor)
    if payment.status == PaymentStatus.COMPLETED:
        return _duplicate_charge(session, payment, req, actor, reason="already_completed")
    if payment.status == PaymentStatus.REFUNDED:
        return _duplicate_charge(session, payment, req, actor, reason="payment_refunded")
    # Failed, expired or cancelled: the provider took the money after all.
    other = _other_active_payment(session, payment)
    if other is not None:
        return _duplicate_charge(
            session,
            payment,
            req,
            actor,
            reason=f"late_success_after_{payment.status}",
            other_payment_id=other,
        )
    refunded = refunded_payment_for(session, payment.consultation_id)
    if refunded is not None:
        return _duplicate_charge(
            session,
            payment,
            req,
            actor,
            reason="consultation_refunded",
            refunded_payment_id=refunded,
        )
    return _complete(session, payment, req, actor)


def fail_locked(
    session: Session, payment: Payment, *, reason: str, actor: str, **data: Any
) -> Transition:
    """Decide and apply a decline on a locked payment."""
    if payment.status in UNCHARGED_ENDS:
        return _snapshot(session, payment, "unchanged")
    if payment.status not in CONFIRMABLE:
        return _refused(session, payment, _cannot(payment, "declined"))
    return _close_uncharged(session, payment, PaymentStatus.FAILED, actor, reason=reason, **data)


def cancel_locked(session: Session, payment: Payment, *, owner_id: int, actor: str) -> Transition:
    """Decide and apply a patient's cancel on a locked payment (see ``cancel``)."""
    if payment.user_id != owner_id:
        raise PaymentNotFound(f"Payment {payment.id} does not exist.")
    if payment.status == PaymentStatus.CANCELLED:
        return _snapshot(session, payment, "unchanged")
    if payment.status != PaymentStatus.PENDING:
        return _refused(session, payment, _cannot(payment, "cancelled"))
    return _close_uncharged(session, payment, PaymentStatus.CANCELLED, actor)


def _close_uncharged(
    session: Session, payment: Payment, status: PaymentStatus, actor: str, **data: Any
) -> Transition:
    """End a payment that took no money (failed, cancelled): invoice void, an event so named."""
    payment.status = status
    payment.invoice.status = InvoiceStatus.VOID
    _event(session, payment, str(status), actor, **data)
    return _snapshot(session, payment, str(status))


def refund_locked(session: Session, payment: Payment, *, reason: str, actor: str) -> Transition:
    """Decide and apply a refund on a locked payment."""
    if payment.status == PaymentStatus.REFUNDED:
        return _snapshot(session, payment, "unchanged")
    if payment.status != PaymentStatus.COMPLETED:
        return _refused(session, payment, _cannot(payment, "refunded"))
    payment.status = PaymentStatus.REFUNDED
    payment.invoice.status = InvoiceStatus.REFUNDED
    if payment.tax_record is not None:
        payment.tax_record.status = "reversed"
    _event(session, payment, "refunded", actor, reason=reason, amount=str(payment.amount))
    # The provider is asked by `flask payments send-outbox`, never inside this transaction.
    outbox.add_refund(session, payment, reason)
    return _snapshot(session, payment, "refunded")


# Money the provider reported on a payment that could not be applied to it: recorded for
# staff (the attention page), never dropped.
UNAPPLIED_CHARGE_EVENTS = ("duplicate_charge", "amount_mismatch")


def reported_charges(payment: Payment) -> list[PaymentEvent]:
    """The payment's recorded charges that staff must refund or settle (events, oldest first)."""
    return [e for e in payment.events if e.event_type in UNAPPLIED_CHARGE_EVENTS]


def delete_locked(session: Session, payment: Payment, *, reason: str, actor: str) -> Transition:
    """Decide and apply a soft delete on a locked payment."""
    if payment.deleted_at is not None:
        return _snapshot(session, payment, "unchanged")
    if payment.status in UNCHARGED_ENDS and reported_charges(payment):
        return _refused(
            session,
            payment,
            PaymentNotDeletable(
                f"Payment {payment.id} is {payment.status}, but the provider reported money "
                "taken for it: refund that charge instead of deleting the payment.",
                payment_id=payment.id,
                payment_status=payment.status,
            ),
        )
    if payment.status not in UNCHARGED_ENDS:
        return _refused(
            session,
            payment,
            PaymentNotDeletable(
                f"Payment {payment.id} is {payment.status}: only a payment that moved no money "
                "(failed, expired or cancelled) can be deleted."
                + (" Refund it instead." if payment.status == PaymentStatus.COMPLETED else ""),
                payment_id=payment.id,
                payment_status=payment.status,
            ),
        )
    payment.deleted_at = utcnow()
    _event(session, payment, "deleted", actor, reason=reason, status=payment.status)
    return _snapshot(session, payment, "deleted")


def run(payment_id: int, step: Callable[[Session, Payment], T]) -> T:
    """Lock the payment (``lock_payment``) and run ``step`` on it, in one transaction.

    Database refusals become domain errors.

    No lost race on the one-active-payment index can reach here: every checkout's
    insert takes a key-share lock on its consultation (the foreign key), which waits
    for, and is waited for by, the consultation lock ``lock_payment`` takes, so a
    late success always sees a new payment committed first (make mutate showed a
    retry here could never run; tests/integration/test_guard_steps.py shows the wait).
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


def actor_label(actor: Actor, action: str) -> str:
    """The audit name of ``actor``; patients are refused.

    :raise Forbidden: 403.
    """
    if isinstance(actor, str):
        return actor
    if not actor.is_staff:
        raise Forbidden(f"Only staff can {action} a payment.")
    return f"user:{actor.id}"


# --- private steps ----------------------------------------------------------------------


def _complete(session: Session, payment: Payment, req: ConfirmRequest, actor: str) -> Transition:
    now = utcnow()
    previous = payment.status
    payment.status = PaymentStatus.COMPLETED
    payment.transaction_id = req.transaction_id
    payment.receipt_url = req.receipt_url
    payment.completed_at = now
    payment.invoice.status = InvoiceStatus.PAID
    payment.invoice.paid_at = now
    # Money came in after all: a payment staff deleted (it had moved none) is back in the lists.
    undeleted = {"undeleted": True} if payment.deleted_at is not None else {}
    payment.deleted_at = None
    _event(
        session,
        payment,
        "confirmed",
        actor,
        transaction_id=req.transaction_id,
        previous_status=previous,
        **undeleted,
    )
    return _snapshot(session, payment, "confirmed")


def _duplicate_charge(
    session: Session, payment: Payment, req: ConfirmRequest, actor: str, **why: Any
) -> Transition:
    _alert_once(
        session,
        payment,
        "duplicate_charge",
        actor,
        transaction_id=req.transaction_id,
        amount=str(payment.amount),
        currency=payment.currency,
        completed_transaction_id=payment.transaction_id,
        action="refund this charge at the provider",
        **why,
    )
    error = DuplicateCharge(
        f"Payment {payment.id} is {payment.status}; the provider reported another charge "
        f"({req.transaction_id}). Staff have been alerted to refund it.",
        payment_id=payment.id,
        payment_status=payment.status,
    )
    return _snapshot(session, payment, "duplicate_charge", refusal=error)


def _alert_once(
    session: Session, payment: Payment, kind: str, actor: str, *, transaction_id: str, **data: Any
) -> None:
    """An event for staff, once per reported charge: providers repeat their reports."""
    if not _recorded(session, payment.id, kind, transaction_id):
        _event(session, payment, kind, actor, transaction_id=transaction_id, **data)


def _amount_mismatch(
    session: Session, payment: Payment, req: ConfirmRequest, actor: str, reported: dict[str, str]
) -> Transition:
    _alert_once(
        session,
        payment,
        "amount_mismatch",
        actor,
        transaction_id=req.transaction_id,
        expected_amount=str(payment.amount),
        expected_currency=payment.currency,
        **reported,
        action="check the charge at the provider; it was not applied",
    )
    error = AmountMismatch(
        f"The provider reported {reported['reported_amount']} {reported['reported_currency']} "
        f"for payment {payment.id}, which is {payment.amount} {payment.currency}. "
        "Nothing was applied; staff have been alerted.",
        payment_id=payment.id,
        payment_status=payment.status,
    )
    return _snapshot(session, payment, "amount_mismatch", refusal=error)


def _mismatch(payment: Payment, reported: Reported | None) -> dict[str, str] | None:
    """The reported amount and currency, if either differs from the payment's."""
    if reported is None or (reported.amount is None and reported.currency is None):
        return None
    amount_ok = reported.amount is None or _same_amount(reported.amount, payment.amount)
    currency_ok = reported.currency is None or reported.currency == payment.currency
    if amount_ok and currency_ok:
        return None
    return {
        "reported_amount": _shown(reported.amount, payment.amount),
        "reported_currency": _shown(reported.currency, payment.currency),
    }


def _same_amount(raw: Any, amount: Decimal) -> bool:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return False
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return False
    return value.is_finite() and value == amount


def _shown(raw: Any, default: Any) -> str:
    # The provider's own words, bounded, for the audit trail and the staff page.
    return str(default if raw is None else raw)[:64]


def _expire_locked(session: Session, payment: Payment, *, actor: str) -> bool:
    if not is_stale(payment):
        return False
    payment.status = PaymentStatus.EXPIRED
    payment.invoice.status = InvoiceStatus.VOID
    _event(session, payment, "expired", actor)
    session.flush()
    return True


def _refused(session: Session, payment: Payment, error: PaymentError) -> Transition:
    return _snapshot(session, payment, "refused", refusal=error)


def _cannot(payment: Payment, verb: str) -> InvalidTransition:
    return InvalidTransition(
        f"Payment {payment.id} is {payment.status} and cannot be {verb}.",
        payment_id=payment.id,
        payment_status=payment.status,
    )


def _event(session: Session, payment: Payment, kind: str, actor: str, **data: Any) -> None:
    add_event(
        session,
        kind,
        actor=actor,
        payment_id=payment.id,
        consultation_id=payment.consultation_id,
        **data,
    )


def _snapshot(
    session: Session, payment: Payment, outcome: str, refusal: PaymentError | None = None
) -> Transition:
    session.flush()  # the version bump happens here
    return Transition(
        outcome,
        payment_json(payment),
        invoice_json(payment.invoice),
        tax_json(payment.tax_record),
        refusal,
    )


def _refresh_children(session: Session, payment_id: int) -> None:
    # The invoice and tax record change only under the payment's lock: re-read them
    # now in case this session loaded them before the lock was taken.
    for model in (Invoice, TaxRecord):
        session.execute(
            select(model)
            .where(model.payment_id == payment_id)
            .execution_options(populate_existing=True)
        ).all()


def _other_active_payment(session: Session, payment: Payment) -> int | None:
    return session.scalar(
        select(Payment.id).where(
            Payment.consultation_id == payment.consultation_id,
            Payment.id != payment.id,
            Payment.is_active,
        )
    )


def _transaction_owner(session: Session, payment: Payment, transaction_id: str) -> int | None:
    """Another payment already confirmed by ``transaction_id``, if any."""
    return session.scalar(
        select(Payment.id).where(Payment.transaction_id == transaction_id, Payment.id != payment.id)
    )


def _recorded(session: Session, payment_id: int, event_type: str, transaction_id: str) -> bool:
    recorded = session.scalars(
        select(PaymentEvent.data).where(
            PaymentEvent.payment_id == payment_id,
            PaymentEvent.event_type == event_type,
        )
    )
    return any(data.get("transaction_id") == transaction_id for data in recorded)


def refunded_payment_for(session: Session, consultation_id: int) -> int | None:
    """A refunded payment of the consultation, if any: the consultation is closed for payment.

    Callers hold the consultation's lock (the checkout and every transition take it
    first), so a refund and a new payment cannot race.
    """
    return session.scalar(
        select(Payment.id)
        .where(
            Payment.consultation_id == consultation_id,
            Payment.status == PaymentStatus.REFUNDED,
            Payment.deleted_at.is_(None),
        )
        .limit(1)
    )
