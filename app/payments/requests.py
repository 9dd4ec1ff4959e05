"""Pure validation of a payment request: no database, no Redis, nothing written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from app.models import MIN_FEE, PaymentMethod, money
from app.payments.errors import ConsultationNotFound, InvalidPaymentRequest

MAX_KEY_LENGTH = 255
# Ids are PostgreSQL INTEGER: anything larger cannot exist.
MAX_ID = 2**31 - 1
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]+$")
# ASCII digits only: Decimal() alone would accept "٥٠٠٠", "1_000" or " 5000 ".
_AMOUNT_TEXT = re.compile(r"^[0-9]+(\.[0-9]+)?$")
METHODS = tuple(m.value for m in PaymentMethod)
# Numeric(12, 2): ten digits before the point.
_MAX_FEE = 10**10
_TOO_PRECISE = "Must have at most two decimal places and fit a consultation fee."


@dataclass(frozen=True)
class PaymentRequest:
    consultation_id: int
    payment_method: str
    amount: Decimal | None
    idempotency_key: str | None

    def fingerprint_parts(self) -> str:
        amount = "" if self.amount is None else str(self.amount)
        return f"{self.consultation_id}|{self.payment_method}|{amount}"


def parse_payment_request(
    *, consultation_id: Any, payment_method: Any, amount: Any = None, idempotency_key: Any = None
) -> PaymentRequest:
    """Check the shape of every field, collecting all problems into one 422."""
    errors: dict[str, str] = {}
    cid = _parse_id(consultation_id, errors)
    if not isinstance(payment_method, str) or payment_method not in METHODS:
        errors["payment_method"] = f"Choose one of: {', '.join(METHODS)}."
    parsed_amount = _parse_amount(amount, errors)
    key = _parse_key(idempotency_key, errors)
    if errors:
        raise InvalidPaymentRequest(
            "; ".join(f"{field}: {msg}" for field, msg in errors.items()), errors=errors
        )
    if cid > MAX_ID:
        # Not echoed: str() of an int past 4300 digits raises, and no such id can exist.
        raise ConsultationNotFound("That consultation does not exist.")
    return PaymentRequest(cid, payment_method, parsed_amount, key)


def _parse_id(value: Any, errors: dict[str, str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors["consultation_id"] = "Must be a positive whole number."
        return 0
    return value


def _parse_amount(value: Any, errors: dict[str, str]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        errors["amount"] = "Must be a number."
        return None
    if isinstance(value, int) and abs(value) >= _MAX_FEE:
        # Checked before str(), which raises past 4300 digits.
        errors["amount"] = f"Must be at least {MIN_FEE}." if value < 0 else _TOO_PRECISE
        return None
    if isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        errors["amount"] = "Must be a number."
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        errors["amount"] = "Must be a number such as 5000 or 5000.00."
        return None
    if isinstance(value, str) and not _AMOUNT_TEXT.match(text):
        errors["amount"] = "Must be a number such as 5000 or 5000.00."
        return None
    if not amount.is_finite():
        errors["amount"] = "Must be a finite number."
        return None
    if amount < MIN_FEE:
        errors["amount"] = f"Must be at least {MIN_FEE}."
        return None
    if amount >= _MAX_FEE or amount != amount.quantize(Decimal("0.01")):
        errors["amount"] = _TOO_PRECISE
        return None
    return money(amount)


def _parse_key(value: Any, errors: dict[str, str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors["idempotency_key"] = "Must be a string."
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not _PRINTABLE_ASCII.match(value):
        errors["idempotency_key"] = f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        return None
    return value


def unquote_header_key(raw: str) -> str:
    """``Idempotency-Key`` may come as a structured-field string ("abc") or bare (abc)."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw
