"""Pure validation of a payment request: no database, no Redis, nothing written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from app.i18n import N_
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
    *,
    consultation_id: Any,
    payment_method: Any,
    amount: Any = None,
    idempotency_key: Any = None,
    header_idempotency_key: str | None = None,
) -> PaymentRequest:
    """Check the shape of every field, collecting all problems into one 422.

    Every key that was sent is checked: the body's ``idempotency_key`` and the
    ``Idempotency-Key`` header's (already unescaped). Both may be sent only if equal.
    """
    errors: dict[str, str] = {}
    cid = _parse_id(consultation_id, errors)
    if not isinstance(payment_method, str) or payment_method not in METHODS:
        errors["payment_method"] = f"Choose one of: {', '.join(METHODS)}."
    parsed_amount = _parse_amount(amount, errors)
    key = _parse_key(idempotency_key, errors, "idempotency_key")
    header_key = _parse_key(header_idempotency_key, errors, "Idempotency-Key")
    if key is not None and header_key is not None and key != header_key:
        errors["idempotency_key"] = (
            "Differs from the Idempotency-Key header: send one key, or the same key in both."
        )
    key = header_key if header_key is not None else key
    if errors:
        raise InvalidPaymentRequest(
            "; ".join(f"{field}: {msg}" for field, msg in errors.items()), errors=errors
        )
    if cid > MAX_ID:
        # Not echoed: str() of an int past 4300 digits raises, and no such id can exist.
        raise ConsultationNotFound(N_("That consultation does not exist."))
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


def _parse_key(value: Any, errors: dict[str, str], field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = "Must be a string."
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not _PRINTABLE_ASCII.match(value):
        errors[field] = f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        return None
    return value


# Provider transaction ids look like "txn_12345" or "pi_3N...": no spaces, no markup.
_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,254}$")
MAX_URL_LENGTH = 2048
MAX_REASON_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# PostgreSQL text and jsonb cannot hold NUL, and UTF-8 (the database's encoding) has no
# form for a lone surrogate, which a JSON "\ud800" escape produces.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: Any) -> bool:
    """True for a string PostgreSQL cannot store: one holding NUL or a lone surrogate."""
    return isinstance(value, str) and _UNSTORABLE.search(value) is not None


def storable(text: str) -> str:
    """``text`` with each character PostgreSQL cannot store replaced by U+FFFD: for keeping
    what another system said (a provider's error message), where refusing would lose it."""
    return _UNSTORABLE.sub("\ufffd", text)


@dataclass(frozen=True)
class ConfirmRequest:
    transaction_id: str
    receipt_url: str | None
    expected_version: int | None


def parse_confirm_request(
    *, transaction_id: Any, receipt_url: Any = None, expected_version: Any = None
) -> ConfirmRequest:
    """Check a confirmation's fields (from staff or a provider), collecting every problem."""
    errors: dict[str, str] = {}
    if not isinstance(transaction_id, str) or not _TRANSACTION_ID.match(transaction_id):
        errors["transaction_id"] = (
            "Must be 1 to 255 letters, digits or the characters _ . : - (the provider's id)."
        )
    if receipt_url is not None and not _is_web_url(receipt_url):
        errors["receipt_url"] = f"Must be an http(s) URL of at most {MAX_URL_LENGTH} characters."
    if expected_version is not None and (
        isinstance(expected_version, bool)
        or not isinstance(expected_version, int)
        or not 1 <= expected_version <= MAX_ID
    ):
        errors["expected_version"] = "Must be a positive whole number."
    if errors:
        raise InvalidPaymentRequest(
            "; ".join(f"{field}: {msg}" for field, msg in errors.items()), errors=errors
        )
    return ConfirmRequest(transaction_id, receipt_url, expected_version)


def _is_web_url(value: Any) -> bool:
    # Only http(s): the URL is shown to people as a link, so javascript: and data: are out.
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return False
    if not _PRINTABLE_ASCII.match(value) or " " in value:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_refund_reason(reason: Any) -> str:
    """A refund needs a short human reason: it is shown to staff and kept in the audit trail."""
    text = reason.strip() if isinstance(reason, str) else ""
    if unstorable(text):
        detail = "reason: Remove the NUL or lone surrogate character (\\u0000, \\ud800)."
        raise InvalidPaymentRequest(detail, errors={"reason": detail.split(": ", 1)[1]})
    if not 1 <= len(text) <= MAX_REASON_LENGTH or _CONTROL.search(text.replace("\n", " ")):
        detail = f"reason: Give a reason of 1 to {MAX_REASON_LENGTH} characters."
        raise InvalidPaymentRequest(detail, errors={"reason": detail.split(": ", 1)[1]})
    return text
