"""How money, times and payment states read to people: the one home for that wording.

Templates use these through the Jinja filters registered by ``register``; the CSV
export and the sandbox provider page call them directly. Formatting comes from
Babel (CLDR data), so the later translation work changes a locale here, not the
callers. Times are stored in UTC (``app.models.UTCDateTime``) and shown in the
clinic's zone, ``CLINIC_TIMEZONE``, always with the offset written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency
from flask import Flask, current_app

from app.config import clinic_timezone
from app.models import CURRENCY, Payment, TaxRecord, money
from app.payments.vat import VatBreakdown

LOCALE = "en_PH"
# ``1 Dec 2026, 10:30 +08:00``: the offset is part of every time a person reads.
TIME_PATTERN = "d MMM yyyy, HH:mm xxx"
DAY_PATTERN = "d MMM yyyy"


@cache
def _zone(name: str) -> ZoneInfo:
    return clinic_timezone(name)


def clinic_tz() -> ZoneInfo:
    """The clinic's zone (``CLINIC_TIMEZONE``, validated when the app was created)."""
    return _zone(current_app.config["CLINIC_TIMEZONE"])


def format_money(value: Decimal | int | str | None) -> str:
    """``₱1,250.00``: pesos (not centavos), half-up to the centavo; ``""`` for None."""
    if value is None:
        return ""
    return format_currency(money(value), CURRENCY, locale=LOCALE)


def format_when(value: datetime | None) -> str:
    """``1 Dec 2026, 10:30 +08:00`` in clinic time; ``—`` for None."""
    if value is None:
        return "—"
    return format_datetime(value, TIME_PATTERN, tzinfo=clinic_tz(), locale=LOCALE)


def format_day(value: datetime | None) -> str:
    """``1 Dec 2026``: the clinic-time calendar day of ``value``; ``—`` for None."""
    if value is None:
        return "—"
    return format_datetime(value, DAY_PATTERN, tzinfo=clinic_tz(), locale=LOCALE)


def local_iso(value: datetime | None) -> str:
    """ISO 8601 in clinic time with its offset (``2026-12-01T10:30:00+08:00``); ``""`` for None."""
    if value is None:
        return ""
    return value.astimezone(clinic_tz()).isoformat()


def percent(rate: Decimal) -> str:
    """``0.12`` reads ``12``; ``0.125`` reads ``12.5`` (no ``%`` sign)."""
    return f"{(Decimal(rate) * 100).normalize():f}"


# --- payment states in words ----------------------------------------------------------

PAYMENT_STATES = {
    "pending": "Payment pending",
    "processing": "Payment pending",
    "completed": "Paid",
    "failed": "Payment declined",
    "expired": "Payment expired",
    "cancelled": "Payment cancelled",
    "refunded": "Refunded",
}
# Money actually taken from the patient: only these say "Amount charged".
CHARGED = frozenset({"completed", "refunded"})
NOT_CHARGED = frozenset({"failed", "expired", "cancelled"})


def payment_state(status: str, stale: bool = False) -> str:
    """The badge: ``completed`` reads "Paid"; a pending payment past its time "Payment expired"."""
    if stale and status == "pending":
        return PAYMENT_STATES["expired"]
    return PAYMENT_STATES.get(status, status.replace("_", " ").capitalize())


def badge_status(status: str, stale: bool = False) -> str:
    """The badge's CSS state: a stale pending payment is styled as expired."""
    return "expired" if stale and status == "pending" else status


def amount_label(status: str, stale: bool = False) -> str:
    """ "Amount charged" for money taken, "Amount due" while pending, "Not charged" otherwise."""
    if status in CHARGED:
        return "Amount charged"
    if status in NOT_CHARGED or stale:
        return "Not charged"
    return "Amount due"


@dataclass(frozen=True)
class RefundNote:
    """ "Refunded on <date>: ₱X returned by <method>", and the reason staff gave.

    Until the payment provider confirms the refund (``returned``), the money is only on
    its way back, and the sentence says so ("to be returned by").
    """

    at: datetime
    amount: Decimal
    method: str
    reason: str
    returned: bool = False
    #: Who refunded it ("Clinic Staff"), where the page knows; the staff pages do.
    by: str | None = None

    @property
    def sentence(self) -> str:
        verb = "returned" if self.returned else "to be returned"
        by = f" by {self.by}" if self.by else ""
        return (
            f"Refunded on {format_when(self.at)}{by}: {format_money(self.amount)} "
            f"{verb} by {self.method}."
        )


def refund_of(payment: Payment) -> RefundNote | None:
    """The refund of a refunded payment, read from its ``refunded`` event; else None."""
    if payment.status != "refunded":
        return None
    event = next((e for e in reversed(payment.events) if e.event_type == "refunded"), None)
    data = event.data if event is not None and isinstance(event.data, dict) else {}
    return RefundNote(
        at=event.created_at if event is not None else payment.updated_at,
        amount=Decimal(data.get("amount") or payment.amount),
        method=payment.method_label,
        reason=str(data.get("reason") or "No reason recorded."),
        returned=any(
            r.kind == "refund" and r.state == "succeeded" for r in payment.provider_requests
        ),
    )


def vat_of(record: TaxRecord) -> VatBreakdown:
    """A stored tax record as the three numbers the pages show (VATable amount, VAT, total)."""
    return VatBreakdown(
        taxable_base=money(record.taxable_base),
        vat=money(record.amount),
        total=money(record.taxable_base + record.amount),
        rate=record.rate,
        prices_include_vat=record.prices_include_vat,
    )


def register(app: Flask) -> None:
    """The template filters: ``money``/``peso``, ``when``, ``day``, ``percent``, state words."""
    app.jinja_env.filters.update(
        peso=format_money,
        money=format_money,
        when=format_when,
        day=format_day,
        percent=percent,
        payment_state=payment_state,
        badge_status=badge_status,
        amount_label=amount_label,
        refund_of=refund_of,
        vat_of=vat_of,
    )

    @app.context_processor
    def clinic():
        config = app.config
        return {
            "clinic": {
                "name": config["CLINIC_NAME"],
                "address": config["CLINIC_ADDRESS"],
                "tin": config["CLINIC_TIN"],
                "email": config["CLINIC_CONTACT_EMAIL"],
                "phone": config["CLINIC_CONTACT_PHONE"],
                "timezone": config["CLINIC_TIMEZONE"],
            }
        }
