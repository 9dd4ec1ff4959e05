"""The payment rules as plain functions: facts in, a decision out, no database.

The callers gather the facts under the locks (``confirmation.confirm_locked``, the
checkout in ``service.py``), call one ``decide_...`` function, and then write what it
decided. The database stays the guard (locks, unique indexes); these functions only say
what the facts, read under that guard, lead to. tests/unit/test_decisions.py table-tests
every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from app.models import PaymentStatus
from app.payments.events import DuplicateChargeReason

CONFIRMABLE = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# Not charged yet as far as we knew; a provider success for them is a late success.
UNCHARGED_ENDS = (PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED)
CHARGED = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)


# --- a success the provider reported (a webhook's or staff's confirmation) ---------------


@dataclass(frozen=True)
class Reported:
    """What a provider said it captured, as sent (unparsed); None when it did not say."""

    amount: Any = None
    currency: Any = None


@dataclass(frozen=True)
class ConfirmationFacts:
    """A locked payment and a success reported for it, as read under the locks.

    ``other_active_payment_id`` and ``refunded_payment_id`` (the consultation's other
    active payment, a refunded payment of the consultation) matter only for a payment that
    ended uncharged; ``transaction_owner_id`` is another payment this transaction id
    already completed.
    """

    status: PaymentStatus
    amount: Decimal
    currency: str
    version: int
    recorded_transaction_id: str | None
    transaction_id: str
    expected_version: int | None = None
    reported: Reported | None = None
    transaction_owner_id: int | None = None
    other_active_payment_id: int | None = None
    refunded_payment_id: int | None = None


class Verdict(StrEnum):
    """What a reported success (or decline) does to the payment."""

    UNCHANGED = "unchanged"  # already so; answer the current state
    STALE_VERSION = "stale_version"  # the caller read an older version
    AMOUNT_MISMATCH = "amount_mismatch"  # recorded for staff, not applied
    TRANSACTION_IN_USE = "transaction_in_use"  # the charge completed another payment
    COMPLETE = "complete"
    DUPLICATE_CHARGE = "duplicate_charge"  # money taken that cannot complete it: staff refund
    FAIL = "fail"
    CANNOT = "cannot"  # refused: the status does not allow it


@dataclass(frozen=True)
class Decision:
    """A verdict and what the record of it names (a duplicate charge's ``reason`` and the
    payment it points at; a mismatch's reported amount and currency)."""

    verdict: Verdict
    reason: DuplicateChargeReason | None = None
    details: dict[str, Any] = field(default_factory=dict)


def decide_confirmation(facts: ConfirmationFacts) -> Decision:
    """What a success report does to a payment (docs/lifecycle.md).

    Money the provider says it captured is never dropped: it completes the payment when
    the payment is pending or processing, or failed, expired or cancelled with no other
    active payment and no refund on the consultation (a late success). Otherwise it is a
    duplicate charge for staff to refund at the provider. A reported amount or currency
    that differs from the payment's is an amount mismatch, never applied. The same
    transaction id again, on the payment it completed, changes nothing.
    """
    if facts.recorded_transaction_id == facts.transaction_id and facts.status in CHARGED:
        return Decision(Verdict.UNCHANGED)
    if facts.expected_version is not None and facts.expected_version != facts.version:
        return Decision(Verdict.STALE_VERSION)
    mismatch = reported_mismatch(facts.reported, facts.amount, facts.currency)
    if mismatch is not None:
        return Decision(Verdict.AMOUNT_MISMATCH, details=mismatch)
    if facts.transaction_owner_id is not None:
        # The charge already completed that payment: it is not lost, nor new.
        return Decision(
            Verdict.TRANSACTION_IN_USE, details={"payment_id": facts.transaction_owner_id}
        )
    if facts.status in CONFIRMABLE:
        return Decision(Verdict.COMPLETE)
    if facts.status == PaymentStatus.COMPLETED:
        return Decision(Verdict.DUPLICATE_CHARGE, DuplicateChargeReason.ALREADY_COMPLETED)
    if facts.status == PaymentStatus.REFUNDED:
        return Decision(Verdict.DUPLICATE_CHARGE, DuplicateChargeReason.PAYMENT_REFUNDED)
    # Failed, expired or cancelled: the provider took the money after all.
    if facts.other_active_payment_id is not None:
        return Decision(
            Verdict.DUPLICATE_CHARGE,
            DuplicateChargeReason.late_success_after(facts.status),
            {"other_payment_id": facts.other_active_payment_id},
        )
    if facts.refunded_payment_id is not None:
        return Decision(
            Verdict.DUPLICATE_CHARGE,
            DuplicateChargeReason.CONSULTATION_REFUNDED,
            {"refunded_payment_id": facts.refunded_payment_id},
        )
    return Decision(Verdict.COMPLETE)


def decide_decline(status: PaymentStatus) -> Decision:
    """What a decline does: a pending or processing payment fails; one that ended uncharged
    stays as it is; a charged one (completed, refunded) is refused, never undone."""
    if status in UNCHARGED_ENDS:
        return Decision(Verdict.UNCHANGED)
    if status not in CONFIRMABLE:
        return Decision(Verdict.CANNOT)
    return Decision(Verdict.FAIL)


def reported_mismatch(reported: Reported | None, amount: Decimal, currency: str) -> dict | None:
    """The reported amount and currency (``reported_amount``, ``reported_currency``, the
    provider's words, at most 64 characters each) if either differs from the payment's
    ``amount`` (pesos) and ``currency``; None when they agree or were not reported."""
    if reported is None or (reported.amount is None and reported.currency is None):
        return None
    amount_ok = reported.amount is None or _same_amount(reported.amount, amount)
    currency_ok = reported.currency is None or reported.currency == currency
    if amount_ok and currency_ok:
        return None
    return {
        "reported_amount": _shown(reported.amount, amount),
        "reported_currency": _shown(reported.currency, currency),
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


# --- a create request ---------------------------------------------------------------------


class KeyVerdict(StrEnum):
    """What an idempotency key's row means for the request that sent the key."""

    OWNED = "owned"  # claimed by this request: it runs
    TAKE_OVER = "take_over"  # the row outlived its TTL: this request claims it afresh
    MISMATCH = "mismatch"  # the key was used for another request: 422
    REPLAY = "replay"  # the same request again: the first answer


@dataclass(frozen=True)
class KeyFacts:
    """The claim's result and, when the row was already there, what it holds (read under
    its row lock)."""

    claimed: bool
    expired: bool = False
    same_fingerprint: bool = True


def decide_key(facts: KeyFacts) -> KeyVerdict:
    """What a claimed, expired, mismatched or finished key leads to (docs/idempotency.md)."""
    if facts.claimed:
        return KeyVerdict.OWNED
    if facts.expired:
        return KeyVerdict.TAKE_OVER
    if not facts.same_fingerprint:
        return KeyVerdict.MISMATCH
    return KeyVerdict.REPLAY


class CheckoutVerdict(StrEnum):
    """What a checkout does once the guard serialized it."""

    CREATE = "create"
    CONFLICT = "conflict"  # 409 naming the active payment
    REFUNDED = "refunded"  # the consultation's payment was refunded: closed for payment


@dataclass(frozen=True)
class CheckoutFacts:
    """The consultation's payments as read under the guard: its active one (None when
    none, or when the abandoned one was just expired) and whether one was refunded."""

    active_payment_id: int | None
    refunded: bool = False


def decide_checkout(facts: CheckoutFacts) -> CheckoutVerdict:
    """One active payment per consultation, and none after a refund."""
    if facts.active_payment_id is not None:
        return CheckoutVerdict.CONFLICT
    if facts.refunded:
        return CheckoutVerdict.REFUNDED
    return CheckoutVerdict.CREATE
