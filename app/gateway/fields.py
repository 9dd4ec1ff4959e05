"""Reading what a provider sent back: the checks every adapter's reader shares.

Text we store or search for is printable ASCII of bounded length (anything else is treated
as absent); the currency is PHP; our payment id comes back as the string of digits we put
in the provider's ``metadata`` under ``PAYMENT_ID_KEY``.
"""

from __future__ import annotations

import re
from typing import Any

from app.payments.requests import MAX_ID

#: Our key in a provider's ``metadata`` for our payment id (string values only).
PAYMENT_ID_KEY = "payment_id"

_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")
_OUR_ID = re.compile(r"^[1-9][0-9]{0,18}$")


class Unreadable(ValueError):
    """A provider's answer or event that is not the shape its pages give."""


def text(value: Any, limit: int = 255) -> str | None:
    """``value`` if it is printable ASCII of 1 to ``limit`` characters; else None."""
    if isinstance(value, str) and 1 <= len(value) <= limit and _PRINTABLE.match(value):
        return value
    return None


def php(value: Any) -> str:
    """``"PHP"``. :raise Unreadable: any other currency."""
    if value != "PHP":
        raise Unreadable(f"Expected PHP, not {str(value)[:8]!r}.")
    return value


def our_payment_id(metadata: Any) -> int | None:
    """Our payment id, read back from the metadata we sent (a string of digits); None if absent."""
    value = metadata.get(PAYMENT_ID_KEY) if isinstance(metadata, dict) else None
    if not isinstance(value, str) or not _OUR_ID.match(value):
        return None
    # Larger ids cannot exist; lock_payment answers 404 for them.
    return min(int(value), MAX_ID + 1)
