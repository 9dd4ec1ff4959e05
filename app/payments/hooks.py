"""Named points where a test can run code inside a payment's transaction (a competing request,
a pause), in the style of saleor's ``run_before``/``run_after``.

Production registers nothing, so each ``hooks.reached(...)`` is a dictionary lookup.
The points, in the order a request passes them:

- ``payment.after_claim``: the checkout owns its idempotency key (uncommitted);
  called with ``consultation_id``.
- ``payment.key_taken``: the claim found the key's row already there (a repeat, a
  concurrent claimer, or a row about to be purged); called with ``session``, ``user_id``
  and ``key_hash`` before that row is read.
- ``payment.before_lock``: the checkout is about to lock the consultation row.
- ``payment.before_insert``: the checkout decided to create; called with ``session`` and
  ``consultation_id`` before the payment, tax record, invoice and event are written.
- ``payment.after_insert``: they are written, uncommitted; called with ``session``,
  ``consultation_id`` and ``payment_id``.
- ``transition.after_lock``: a transition (confirm, fail, refund, expire, webhook)
  holds the consultation and payment locks; called with ``payment_id``.
- ``serial.taken``: a capture or refund took the next serial (the counter row locked and
  bumped, uncommitted); called with ``series`` and ``serial``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

AFTER_CLAIM = "payment.after_claim"
KEY_TAKEN = "payment.key_taken"
BEFORE_LOCK = "payment.before_lock"
BEFORE_INSERT = "payment.before_insert"
AFTER_INSERT = "payment.after_insert"
AFTER_TRANSITION_LOCK = "transition.after_lock"
SERIAL_TAKEN = "serial.taken"
POINTS = (
    AFTER_CLAIM,
    KEY_TAKEN,
    BEFORE_LOCK,
    BEFORE_INSERT,
    AFTER_INSERT,
    AFTER_TRANSITION_LOCK,
    SERIAL_TAKEN,
)

_registered: dict[str, list[Callable[..., Any]]] = {}


def reached(point: str, **context: Any) -> None:
    """Run what is registered at ``point`` (nothing, in production)."""
    for callback in _registered.get(point, ()):
        callback(**context)


@contextmanager
def run_at(point: str, callback: Callable[..., Any]) -> Iterator[None]:
    """Run ``callback(**context)`` each time ``point`` is reached, inside the ``with`` block."""
    if point not in POINTS:
        raise ValueError(f"unknown hook point {point!r}; known: {', '.join(POINTS)}")
    _registered.setdefault(point, []).append(callback)
    try:
        yield
    finally:
        _registered[point].remove(callback)
