"""The names of what happens to a payment: its events (``payment_events.event_type``) and
why a reported charge could not be applied (a ``duplicate_charge`` event's ``reason``).

The stored values are these strings; a ``StrEnum`` member equals its string, so rows
written before any member existed read back as members' equals. Every writer and reader
(the lifecycle, the outbox, the history and the attention page) names them from here.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentEventType(StrEnum):
    """``payment_events.event_type``: one row per change of a payment, oldest first."""

    CREATED = "created"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    DELETED = "deleted"
    # Money the provider reported that could not be applied to the payment (staff act).
    DUPLICATE_CHARGE = "duplicate_charge"
    AMOUNT_MISMATCH = "amount_mismatch"
    # The refund outbox: the provider returned the money, or refused for good.
    REFUNDED_AT_PROVIDER = "refunded_at_provider"
    REFUND_REFUSED = "refund_refused"
    # Written before repeats were counted on their idempotency key; still readable.
    REPLAYED = "replayed"
    REFUSED = "refused"


# Money the provider reported on a payment that could not be applied to it: recorded for
# staff (the attention page), never dropped.
UNAPPLIED_CHARGE_EVENTS = (PaymentEventType.DUPLICATE_CHARGE, PaymentEventType.AMOUNT_MISMATCH)


class DuplicateChargeReason(StrEnum):
    """A ``duplicate_charge`` event's ``reason``: why the charge could not complete its payment."""

    ALREADY_COMPLETED = "already_completed"
    PAYMENT_REFUNDED = "payment_refunded"
    CONSULTATION_REFUNDED = "consultation_refunded"
    # A success for a payment that had ended uncharged, when another payment now holds
    # the consultation: one member per such status (``late_success_after``).
    LATE_SUCCESS_AFTER_FAILED = "late_success_after_failed"
    LATE_SUCCESS_AFTER_EXPIRED = "late_success_after_expired"
    LATE_SUCCESS_AFTER_CANCELLED = "late_success_after_cancelled"

    @classmethod
    def late_success_after(cls, status: str) -> DuplicateChargeReason:
        """The reason for a late success on a payment that was ``status`` (failed, expired or
        cancelled).

        :raise ValueError: ``status`` is not one a late success can follow.
        """
        return cls(f"late_success_after_{status}")
