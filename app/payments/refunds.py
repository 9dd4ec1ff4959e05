"""A refund, whole or partial, decided on a locked payment: a credit memo and a provider request.

A refund never touches the sales invoice's number or amount (RR 7-2024 s. 2(2): a credit
memo is a supplementary document that records the correction). Each refund is:

- one ``credit_memos`` row with the next serial of the branch's credit memo series
  (``serials.next_serial``), the invoice it corrects, the amount and the reason;
- one ``provider_requests`` row (the outbox) with its own idempotency key, sent later by
  the refund worker, never inside this transaction;
- a ``refunded`` payment event; the payment becomes ``refunded`` (and its invoice, and its
  tax record reversed) only when nothing is left to refund.

What may still be refunded is the captured amount less every refund request that did not
fail (pending ones count: the money is on its way back). The payment row's lock, taken by
``lifecycle.lock_payment`` before this runs, makes concurrent refunds of one payment wait
for each other, so together they can never return more than was captured.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.models import (
    AuditAction,
    CreditMemo,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    ProviderRequest,
    ProviderRequestState,
    SerialSeries,
    money,
    utcnow,
)
from app.payments import outbox, serials
from app.payments.errors import InvalidTransition, StaleVersion
from app.payments.events import PaymentEventType
from app.payments.transitions import (
    UNCHANGED,
    Transition,
    cannot,
    record_event,
    refused,
    snapshot,
)


class RefundExceedsRemaining(InvalidTransition):
    """The amount asked is more than what is left to refund of the payment."""


def refunded_total(session: Session, payment_id: int) -> Decimal:
    """Pesos refunded or being refunded: every refund request of the payment not failed."""
    total = session.scalar(
        select(func.coalesce(func.sum(ProviderRequest.amount), 0)).where(
            ProviderRequest.payment_id == payment_id,
            ProviderRequest.kind == outbox.REFUND,
            ProviderRequest.state != ProviderRequestState.FAILED.value,
        )
    )
    return money(total)


def refundable(session: Session, payment: Payment) -> Decimal:
    """Pesos still refundable: nothing unless the payment is completed (captured), else the
    captured amount less ``refunded_total``."""
    if payment.status != PaymentStatus.COMPLETED:
        return money(0)
    return money(payment.amount) - refunded_total(session, payment.id)


def refund_locked(
    session: Session,
    payment: Payment,
    *,
    reason: str,
    actor: str,
    amount: Decimal | None = None,
    expected_version: int | None = None,
) -> Transition:
    """Decide and apply a refund of ``amount`` pesos (None: all that remains) on a locked
    payment. ``expected_version``, when given, must be the payment's version: a form
    posted twice, or after another refund, is refused instead of refunding again."""
    if expected_version is not None and expected_version != payment.version:
        return refused(session, payment, _stale(payment, expected_version))
    if payment.status == PaymentStatus.REFUNDED and amount is None:
        return snapshot(session, payment, UNCHANGED)
    if payment.status != PaymentStatus.COMPLETED:
        return refused(session, payment, cannot(payment, "refunded"))
    remaining = refundable(session, payment)
    amount = remaining if amount is None else amount
    if amount > remaining:
        return refused(session, payment, _too_much(payment, amount, remaining))
    return _apply(session, payment, amount, whole=amount == remaining, reason=reason, actor=actor)


def _apply(
    session: Session, payment: Payment, amount: Decimal, *, whole: bool, reason: str, actor: str
) -> Transition:
    request = outbox.add_refund(session, payment, reason, amount)
    session.flush()  # the request's id, for its credit memo
    memo = issue_credit_memo(session, payment, request, actor=actor)
    if whole:
        payment.status = PaymentStatus.REFUNDED
        payment.invoice.status = InvoiceStatus.REFUNDED
        if payment.tax_record is not None:
            payment.tax_record.status = "reversed"
    else:
        payment.updated_at = utcnow()  # a new version: a form read before this is stale
    record_event(
        session,
        payment,
        PaymentEventType.REFUNDED,
        actor,
        reason=reason,
        amount=str(amount),
        credit_memo=memo.serial_number,
        remaining=str(money(payment.amount) - refunded_total(session, payment.id)),
    )
    # In the refund's own transaction: no refund without its audit row, and no row without it.
    audit.record(
        AuditAction.REFUNDED,
        actor=actor,
        payment=payment,
        session=session,
        reason=reason,
        amount=str(amount),
    )
    return snapshot(session, payment, PaymentEventType.REFUNDED)


def issue_credit_memo(
    session: Session, payment: Payment, request: ProviderRequest, *, actor: str
) -> CreditMemo:
    """The credit memo of ``request`` (a refund), numbered in this transaction."""
    issued = serials.issue(session, SerialSeries.CREDIT_MEMO)
    memo = CreditMemo(
        invoice=payment.invoice,
        payment_id=payment.id,
        provider_request_id=request.id,
        branch_code=issued.branch_code,
        serial=issued.serial,
        serial_number=issued.number,
        amount=money(request.amount),
        reason=request.reason,
        actor=actor,
        issued_at=utcnow(),
    )
    session.add(memo)
    return memo


def _stale(payment: Payment, expected: int) -> StaleVersion:
    return StaleVersion(
        f"Payment {payment.id} is at version {payment.version}, not {expected}: it changed "
        "(another refund?) since it was read. Read it again before refunding.",
        current_version=payment.version,
        payment_status=payment.status,
    )


def _too_much(payment: Payment, amount: Decimal, remaining: Decimal) -> RefundExceedsRemaining:
    return RefundExceedsRemaining(
        f"Payment {payment.id} has {remaining} {payment.currency} left to refund; "
        f"{amount} was asked.",
        payment_id=payment.id,
        payment_status=payment.status,
        refundable=str(remaining),
    )
