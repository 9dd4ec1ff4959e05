"""How a payment's history and links are shown to staff.

Event types are named in ``app/payments/events.py``; any type renders, known ones with a
friendly label.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext

from app.formatting import format_money, status_word
from app.i18n import N_
from app.models import Payment, PaymentEvent, PaymentMethod, User
from app.payments.events import DuplicateChargeReason, PaymentEventType

# English msgids, shown in the staff member's language.
EVENT_LABELS = {
    PaymentEventType.CREATED: N_("Payment created"),
    PaymentEventType.REPLAYED: N_("Repeated request answered with the first result"),
    PaymentEventType.REFUSED: N_("Another payment attempt refused"),
    PaymentEventType.CONFIRMED: N_("Payment confirmed"),
    PaymentEventType.FAILED: N_("Payment failed"),
    PaymentEventType.EXPIRED: N_("Expired unpaid"),
    PaymentEventType.CANCELLED: N_("Cancelled unpaid"),
    PaymentEventType.DUPLICATE_CHARGE: N_("Duplicate charge flagged"),
    PaymentEventType.AMOUNT_MISMATCH: N_("Reported amount does not match: not applied"),
    PaymentEventType.REFUNDED: N_("Refunded"),
    PaymentEventType.REFUNDED_AT_PROVIDER: N_("Refund returned by the payment provider"),
    PaymentEventType.REFUND_REFUSED: N_("Payment provider refused the refund"),
    PaymentEventType.DELETED: N_("Deleted by staff (it moved no money)"),
}
#: Who acted: a user's role, or the part of the system (``system:checkout``).
ACTOR_WORDS = {
    "patient": N_("patient"),
    "cashier": N_("cashier"),
    "manager": N_("manager"),
    "staff": N_("staff"),
    "system": N_("System"),
    "gateway": N_("Gateway"),
}
# Events that need a person's eye get a warning style in the history.
WARNING_EVENTS = frozenset(
    {
        PaymentEventType.REFUSED,
        PaymentEventType.DUPLICATE_CHARGE,
        PaymentEventType.AMOUNT_MISMATCH,
        PaymentEventType.FAILED,
        PaymentEventType.REFUND_REFUSED,
    }
)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    event_type: str
    label: str
    actor: str
    details: tuple[tuple[str, str], ...]

    @property
    def is_warning(self) -> bool:
        return self.event_type in WARNING_EVENTS


def event_label(event_type: str) -> str:
    """A friendly label for any event type, including ones added later."""
    if event_type in EVENT_LABELS:
        return gettext(EVENT_LABELS[event_type])
    return event_type.replace("_", " ").strip().capitalize()


def actor_user_ids(events: Iterable[PaymentEvent]) -> set[int]:
    """The user ids named by ``user:<id>`` actors, to load their names in one query."""
    ids = set()
    for event in events:
        kind, _, rest = event.actor.partition(":")
        if kind == "user" and rest.isdigit():
            ids.add(int(rest))
    return ids


#: The parts of the system that act (``system:<part>``, ``gateway:<provider>``), in words.
ACTOR_PARTS = {
    "checkout": N_("checkout"),
    "demo": N_("demo data"),
    "expire-stale": N_("expiry of unpaid payments"),
    "send-outbox": N_("refund sender"),
    "cli": N_("command line"),
    "sandbox": N_("test provider"),
    "paymongo": "PayMongo",
    "xendit": "Xendit",
}


def actor_label(actor: str, users: dict[int, User]) -> str:
    """``user:12`` becomes "Maria Santos (patient)"; ``system:checkout`` "System (checkout)";
    a failed sign-in's ``email:<hash>`` "Unknown email"."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest.isdigit() and int(rest) in users:
        user = users[int(rest)]
        return f"{user.name} ({_word(user.role)})"
    if kind in ("system", "gateway", "staff") and rest:
        part = gettext(ACTOR_PARTS[rest]) if rest in ACTOR_PARTS else rest
        return f"{_word(kind).capitalize()} ({part})"
    if kind == "email":
        return gettext("Unknown email")
    return actor


def _word(word: str) -> str:
    return gettext(ACTOR_WORDS[word]) if word in ACTOR_WORDS else word


def actor_name(actor: str, users: dict[int, User]) -> str:
    """Who acted, for a sentence: a user's name alone ("Clinic Staff"), else ``actor_label``."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest.isdigit() and int(rest) in users:
        return users[int(rest)].name
    return actor_label(actor, users)


def last_event(events: Iterable[PaymentEvent], event_type: str) -> PaymentEvent | None:
    """The latest event of that type, or None."""
    return next((e for e in reversed(list(events)) if e.event_type == event_type), None)


#: An event's detail names, in the staff member's language; an unknown name reads as stored,
#: its underscores as spaces.
DETAIL_WORDS = {
    "method": N_("Method"),
    "payment_method": N_("Method"),
    "amount": N_("Amount"),
    "reported_amount": N_("Amount reported"),
    "currency": N_("Currency"),
    "reported_currency": N_("Currency reported"),
    "previous_status": N_("Status before"),
    "status": N_("Status"),
    "payment_status": N_("Status"),
    "reason": N_("Reason"),
    "transaction_id": N_("Provider's transaction"),
    "completed_transaction_id": N_("Transaction that paid it"),
    "action": N_("What to do"),
    "source": N_("Answered from"),
    "credit_memo": N_("Credit memo"),
    "remaining": N_("Left to refund"),
    "request_id": N_("Refund request"),
    "refund_id": N_("Provider's refund"),
    "detail": N_("Provider's answer"),
    "event_id": N_("Provider's notice"),
    "expected_amount": N_("Amount expected"),
    "expected_currency": N_("Currency expected"),
    # the other payment a flagged charge concerns (app/payments/decisions.py)
    "payment_id": N_("Payment the transaction belongs to"),
    "other_payment_id": N_("Payment under way"),
    "refunded_payment_id": N_("Refunded payment"),
    "undeleted": N_("Back in the lists"),
}
#: Stored codes an event's details carry, as words (statuses read through ``status_word``,
#: methods through their labels).
CODE_WORDS = {
    "card_declined": N_("card declined"),
    "declined": N_("declined"),
    # What staff should do about a flagged charge (app/payments/confirmation.py stores it).
    "refund this charge at the provider": N_("refund this charge at the provider"),
    "check the charge at the provider; it was not applied": N_(
        "check the charge at the provider; it was not applied"
    ),
    "active_payment_exists": N_("another payment is under way"),
    DuplicateChargeReason.ALREADY_COMPLETED: N_("the payment was already paid"),
    DuplicateChargeReason.PAYMENT_REFUNDED: N_("the payment was refunded"),
    DuplicateChargeReason.CONSULTATION_REFUNDED: N_("the consultation was refunded"),
    DuplicateChargeReason.LATE_SUCCESS_AFTER_FAILED: N_("paid after it had failed"),
    DuplicateChargeReason.LATE_SUCCESS_AFTER_EXPIRED: N_("paid after it had expired"),
    DuplicateChargeReason.LATE_SUCCESS_AFTER_CANCELLED: N_("paid after it was cancelled"),
}
_STATUS_KEYS = frozenset({"previous_status", "status", "payment_status"})
_AMOUNT_KEYS = frozenset({"amount", "reported_amount", "expected_amount", "remaining"})
_METHOD_KEYS = frozenset({"method", "payment_method"})


def _details(data: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, dict):
        return ()
    # A detail recorded as null (a cancelled payment's "completed_transaction_id") says
    # nothing: it is left out rather than shown as "None".
    return tuple(
        (_detail_name(key), _value(key, value)) for key, value in data.items() if value is not None
    )


def _detail_name(key: str) -> str:
    return gettext(DETAIL_WORDS[key]) if key in DETAIL_WORDS else key.replace("_", " ")


def _value(key: str, value: Any) -> str:
    """A detail's value in words: a status, method or known code by its name; an amount as
    pesos; anything else as stored (a reason staff typed, a transaction id)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    text = str(value)
    if key in _STATUS_KEYS:
        return status_word(text)
    if key in _METHOD_KEYS and text in {m.value for m in PaymentMethod}:
        return PaymentMethod(text).label
    if key in _AMOUNT_KEYS:
        try:
            return format_money(text)
        except (ArithmeticError, ValueError):
            return text
    return gettext(CODE_WORDS[text]) if text in CODE_WORDS else text


def history(events: Iterable[PaymentEvent], users: dict[int, User]) -> list[HistoryEntry]:
    """The payment's events as rows for the history table, oldest first."""
    return [
        HistoryEntry(
            at=event.created_at,
            event_type=event.event_type,
            label=event_label(event.event_type),
            actor=actor_label(event.actor, users),
            details=_details(event.data),
        )
        for event in events
    ]


def receipt_link(payment: Payment) -> str | None:
    """The receipt URL if it is a web address; anything else (``javascript:``) is not linked."""
    url = payment.receipt_url
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None
