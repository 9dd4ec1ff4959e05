"""How a payment's history and links are shown to staff.

Event types come from several parts of the app (checkout, confirmation, refunds,
webhooks); any type renders, known ones with a friendly label.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from app.models import Payment, PaymentEvent, User

EVENT_LABELS = {
    "created": "Payment created",
    "replayed": "Repeated request answered with the first result",
    "refused": "Another payment attempt refused",
    "confirmed": "Payment confirmed",
    "failed": "Payment failed",
    "expired": "Expired unpaid",
    "duplicate_charge": "Duplicate charge flagged",
    "refunded": "Refunded",
    "refunded_at_provider": "Refund returned by the payment provider",
    "refund_refused": "Payment provider refused the refund",
    "deleted": "Deleted by staff (it moved no money)",
}
# Events that need a person's eye get a warning style in the history.
WARNING_EVENTS = frozenset({"refused", "duplicate_charge", "failed", "refund_refused"})


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
    return EVENT_LABELS.get(event_type) or event_type.replace("_", " ").strip().capitalize()


def actor_user_ids(events: Iterable[PaymentEvent]) -> set[int]:
    """The user ids named by ``user:<id>`` actors, to load their names in one query."""
    ids = set()
    for event in events:
        kind, _, rest = event.actor.partition(":")
        if kind == "user" and rest.isdigit():
            ids.add(int(rest))
    return ids


def actor_label(actor: str, users: dict[int, User]) -> str:
    """``user:12`` becomes "Maria Santos (patient)"; ``system:checkout`` "System (checkout)"."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest.isdigit() and int(rest) in users:
        user = users[int(rest)]
        return f"{user.name} ({user.role})"
    if kind in ("system", "gateway", "staff") and rest:
        return f"{kind.capitalize()} ({rest})"
    return actor


def actor_name(actor: str, users: dict[int, User]) -> str:
    """Who acted, for a sentence: a user's name alone ("Clinic Staff"), else ``actor_label``."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest.isdigit() and int(rest) in users:
        return users[int(rest)].name
    return actor_label(actor, users)


def last_event(events: Iterable[PaymentEvent], event_type: str) -> PaymentEvent | None:
    """The latest event of that type, or None."""
    return next((e for e in reversed(list(events)) if e.event_type == event_type), None)


def _details(data: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, dict):
        return ()
    return tuple((key.replace("_", " "), _value(value)) for key, value in data.items())


def _value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


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
