"""How the checkout pages word states, times and rates (Jinja filters)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.checkout import bp

PAYMENT_STATES = {
    "pending": "Payment pending",
    "processing": "Payment pending",
    "completed": "Paid",
    "failed": "Payment failed",
    "expired": "Payment expired",
    "refunded": "Refunded",
}


@bp.app_template_filter("payment_state")
def payment_state(status: str) -> str:
    """``completed`` reads "Paid"; a payment not yet paid reads "Payment pending"."""
    return PAYMENT_STATES.get(status, status)


@bp.app_template_filter("when")
def when(value: datetime | None) -> str:
    """``26 Nov 2026, 09:30 UTC``: times are stored and shown in UTC."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


@bp.app_template_filter("percent")
def percent(rate: Decimal) -> str:
    """``0.12`` reads ``12``; ``0.125`` reads ``12.5``."""
    return f"{(Decimal(rate) * 100).normalize():f}"
