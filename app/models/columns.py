"""Values and column types every table uses: money in ``Decimal`` centavos, aware UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import (
    JSON,
    DateTime,
    Numeric,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")
CURRENCY = "PHP"
MIN_FEE = Decimal("1000")
# The smallest amount a payment may charge: a power of ten below every discounted fee (20% off
# MIN_FEE less its VAT is more than 400 at any VAT rate below 100%; app/payments/pricing.py).
MIN_CHARGE = Decimal("100")


def money(value: Decimal | int | str) -> Decimal:
    """Quantize to centavos, half-up: the one rounding rule for stored or shown money."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp, stored as UTC on every dialect, that comes back aware.

    Every aware value is converted to UTC before it is bound: SQLite keeps no offset,
    so ``10:30+08:00`` stored as given would read back as ``10:30 UTC``.
    PostgreSQL's ``timestamptz`` converts by itself; converting here too makes both
    dialects store the same instant. Naive values are refused (``ValueError``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


Money = Numeric(12, 2, asdecimal=True)
JSONType = JSON().with_variant(JSONB(), "postgresql")


def one_of(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


# The one definition of an "active" payment: at most one per consultation.
