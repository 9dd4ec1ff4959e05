"""Pure validation of a payment request: no database, no Redis, nothing written.

Each text field's rule is a regular expression its whole value must match (``*_PATTERN``,
checked with ``re.fullmatch``). ``app/api/openapi.py`` publishes the same strings as the
OpenAPI document's JSON Schema patterns, so the document says exactly what the server
accepts. Python's ``$`` also matches before a final newline; ``fullmatch`` does not, and
neither does JSON Schema's ``^...$``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

from app.i18n import N_
from app.models import MIN_CHARGE, PaymentMethod, money
from app.payments.errors import ConsultationNotFound, InvalidPaymentRequest

MAX_KEY_LENGTH = 255
# Ids are PostgreSQL INTEGER: anything larger cannot exist.
MAX_ID = 2**31 - 1
# 1 to 255 printable ASCII characters.
KEY_PATTERN = rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}"
# Numeric(12, 2): ten digits before the point.
_MAX_FEE = 10**10
# At least MIN_CHARGE (a discounted fee is below MIN_FEE) and below _MAX_FEE, at most two
# decimals, in ASCII digits without sign, spaces or exponent (Decimal() alone would accept
# "٥٠٠٠", "1_000", " 5000 " or "5e3"). Written for a MIN_CHARGE that is a power of ten.
_MIN_CHARGE_DIGITS = len(str(int(MIN_CHARGE)))
if MIN_CHARGE != 10 ** (_MIN_CHARGE_DIGITS - 1):
    raise RuntimeError("AMOUNT_PATTERN needs MIN_CHARGE to be a power of ten.")
AMOUNT_PATTERN = rf"0*[1-9][0-9]{{{_MIN_CHARGE_DIGITS - 1},9}}(\.[0-9]{{1,2}})?"
METHODS = tuple(m.value for m in PaymentMethod)
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
    key = _one_key(idempotency_key, header_idempotency_key, errors)
    if errors:
        raise InvalidPaymentRequest(
            "; ".join(f"{field}: {msg}" for field, msg in errors.items()), errors=errors
        )
    if cid > MAX_ID:
        # Not echoed: str() of an int past 4300 digits raises, and no such id can exist.
        raise ConsultationNotFound(N_("That consultation does not exist."))
    return PaymentRequest(cid, payment_method, parsed_amount, key)


def whole_number(value: Any) -> int | None:
    """``value`` as an int if JSON Schema calls it an integer (5, or 5.0: any number whose
    fraction is zero, read as Decimal); None for anything else, bools included. A number past
    every id (2**31 and more) comes back as ``MAX_ID + 1``."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            return None
        if abs(value) > MAX_ID:
            # Not int(): 1e999999 is a million digits.
            return MAX_ID + 1 if value > 0 else -1
    return int(value)


def _parse_id(value: Any, errors: dict[str, str]) -> int:
    number = whole_number(value)
    if number is None or number < 1:
        errors["consultation_id"] = "Must be a positive whole number."
        return 0
    return number


def _parse_amount(value: Any, errors: dict[str, str]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        errors["amount"] = "Must be a number."
        return None
    if isinstance(value, int) and abs(value) >= _MAX_FEE:
        # Checked before str(), which raises past 4300 digits.
        errors["amount"] = f"Must be at least {MIN_CHARGE}." if value < 0 else _TOO_PRECISE
        return None
    if isinstance(value, str) and not re.fullmatch(AMOUNT_PATTERN, value):
        errors["amount"] = "Must be a number such as 5000 or 5000.00."
        return None
    if not isinstance(value, int | Decimal | str):
        errors["amount"] = "Must be a number."
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        errors["amount"] = "Must be a number such as 5000 or 5000.00."
        return None
    if not amount.is_finite():
        errors["amount"] = "Must be a finite number."
        return None
    if amount < MIN_CHARGE:
        errors["amount"] = f"Must be at least {MIN_CHARGE}."
        return None
    if amount >= _MAX_FEE or amount != amount.quantize(Decimal("0.01")):
        errors["amount"] = _TOO_PRECISE
        return None
    return money(amount)


def _one_key(body_key: Any, header_key: str | None, errors: dict[str, str]) -> str | None:
    """The request's idempotency key: the body's ``idempotency_key`` or the header's, both
    checked; both may be sent only if equal (a create and a refund read keys alike)."""
    key = _parse_key(body_key, errors, "idempotency_key")
    from_header = _parse_key(header_key, errors, "Idempotency-Key")
    if key is not None and from_header is not None and key != from_header:
        errors["idempotency_key"] = (
            "Differs from the Idempotency-Key header: send one key, or the same key in both."
        )
    return from_header if from_header is not None else key


def _parse_key(value: Any, errors: dict[str, str], field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = "Must be a string."
        return None
    if not re.fullmatch(KEY_PATTERN, value):
        errors[field] = f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        return None
    return value


# Provider transaction ids look like "txn_12345" or "pi_3N...": no spaces, no markup.
TRANSACTION_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,254}"
MAX_URL_LENGTH = 2048
# http(s) only: the URL is shown to people as a link, so javascript: and data: are out.
# Printable ASCII without spaces, and a host: "//" is followed by neither "/", "?" nor "#".
RECEIPT_URL_PATTERN = r"[Hh][Tt][Tt][Pp][Ss]?://[\x21\x22\x24-\x2e\x30-\x3e\x40-\x7e][\x21-\x7e]*"
MAX_REASON_LENGTH = 500
# Every control character (Unicode category Cc: C0, DEL and C1, such as U+0085).
_CONTROL = r"\x00-\x1f\x7f-\x9f"
# Every format character (Unicode 14 category Cf) but the zero-width non-joiner and joiner
# (U+200C, U+200D), which Persian and the Indic scripts write with and emoji sequences join
# with ("👩‍⚕️"). The others are invisible or reorder what is shown: U+202E shows
# "refund evil" as "refund live". tests/unit/test_reason_rule.py checks the list against
# unicodedata.
_FORMAT = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    r"\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    r"\U000e0020-\U000e007f"
)
# What str.strip() removes that is not a control character.
_SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Marks and letters that show nothing on their own: a reason of only these and spaces is
# blank (the joiners, variation selectors, the combining grapheme joiner, Hangul fillers,
# the blank Braille pattern).
_INVISIBLE = r"\u200c\u200d\u034f\ufe00-\ufe0f\U000e0100-\U000e01ef\u115f\u1160\u3164\uffa0\u2800"
# At least one character that shows; no control or format characters.
REASON_PATTERN = (
    rf"[^{_CONTROL}{_FORMAT}]*[^{_CONTROL}{_FORMAT}{_SPACE}{_INVISIBLE}][^{_CONTROL}{_FORMAT}]*"
)
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
    if not isinstance(transaction_id, str) or not re.fullmatch(
        TRANSACTION_ID_PATTERN, transaction_id
    ):
        errors["transaction_id"] = (
            "Must be 1 to 255 letters, digits or the characters _ . : - (the provider's id)."
        )
    if receipt_url is not None and not _is_web_url(receipt_url):
        errors["receipt_url"] = f"Must be an http(s) URL of at most {MAX_URL_LENGTH} characters."
    version = _parse_version(expected_version, errors)
    _raise_if_any(errors)
    return ConfirmRequest(transaction_id, receipt_url, version)


def _parse_version(value: Any, errors: dict[str, str]) -> int | None:
    """An ``expected_version``: None, or a whole number from 1 to ``MAX_ID``."""
    version = whole_number(value)
    if value is not None and (version is None or not 1 <= version <= MAX_ID):
        errors["expected_version"] = "Must be a positive whole number."
    return version


def _raise_if_any(errors: dict[str, str]) -> None:
    """:raise InvalidPaymentRequest: 422 naming every field in ``errors``, if any."""
    if errors:
        raise InvalidPaymentRequest(
            "; ".join(f"{field}: {msg}" for field, msg in errors.items()), errors=errors
        )


def _is_web_url(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= MAX_URL_LENGTH
        and re.fullmatch(RECEIPT_URL_PATTERN, value) is not None
    )


@dataclass(frozen=True)
class Problem:
    """What is wrong with a value someone typed: an English msgid and its fields.

    ``str(problem)`` is the English sentence (the JSON API's detail); the staff forms show
    ``gettext(problem.msgid, **problem.fields)``, the same sentence in the reader's language.
    """

    msgid: str
    fields: dict[str, Any]

    def __str__(self) -> str:
        return self.msgid % self.fields


def parse_refund_reason(reason: Any) -> str:
    """A refund needs a short human reason: it is shown to staff, kept in the audit trail and
    sent to the provider. Checked as sent (``reason_problem``); returned without the spaces
    around it.

    :raise InvalidPaymentRequest: 422, ``errors["reason"]`` says what is wrong with it.
    """
    problem = reason_problem(reason)
    if problem:
        raise InvalidPaymentRequest(f"reason: {problem}", errors={"reason": str(problem)})
    return reason.strip()


def forbidden_character(text: str) -> tuple[str, str] | None:
    """The first character a reason or a name may not hold, as ``(kind, "U+202E")``: kind
    ``control`` (Unicode Cc: C0, DEL, C1), ``format`` (Unicode Cf but the joiners:
    ``_FORMAT``) or ``unstorable`` (a lone surrogate, which PostgreSQL's UTF-8 cannot hold);
    None when there is none."""
    for kind, pattern in (
        ("control", f"[{_CONTROL}]"),
        ("format", f"[{_FORMAT}]"),
        ("unstorable", _UNSTORABLE.pattern),
    ):
        found = re.search(pattern, text)
        if found:
            return kind, f"U+{ord(found.group()):04X}"
    return None


_FORBIDDEN_WORDS = {
    "control": N_(
        "Remove the control character %(code)s: tabs, line breaks and the like are not allowed."
    ),
    "format": N_(
        "Remove the invisible character %(code)s: it hides or reorders text (such as a "
        "right-to-left override), so the reason would not read as typed."
    ),
    "unstorable": N_("Remove the character %(code)s: it cannot be stored."),
}


def reason_problem(reason: Any) -> Problem | None:
    """What is wrong with a reason staff or a client typed (a refund's, a deletion's), or
    None: text, at most ``MAX_REASON_LENGTH`` characters, no control or format character
    (``forbidden_character``), and something that shows besides spaces and invisible marks.
    The one rule of ``REASON_PATTERN``, with a sentence for each way to break it."""
    if not isinstance(reason, str):
        return Problem(N_("Give the reason as text."), {})
    if len(reason) > MAX_REASON_LENGTH:
        return Problem(
            N_("Shorten the reason to at most %(max)d characters: this one has %(count)d."),
            {"max": MAX_REASON_LENGTH, "count": len(reason)},
        )
    forbidden = forbidden_character(reason)
    if forbidden:
        return Problem(_FORBIDDEN_WORDS[forbidden[0]], {"code": forbidden[1]})
    if not re.fullmatch(REASON_PATTERN, reason):
        return Problem(N_("Give a reason: this one is empty or only spaces."), {})
    return None


# A refund's pesos as the API takes them, more than zero, in ASCII digits with at most two
# decimals ("500", "1120.5", "0.01"); "0" and "0.00" do not match. Any number of digits:
# more than is left to refund is refused under the payment's lock, with what is left.
REFUND_AMOUNT_PATTERN = r"0*(?:[1-9][0-9]*(?:\.[0-9]{1,2})?|0?\.(?:0[1-9]|[1-9][0-9]?))"


class BadAmount(ValueError):
    """A refund amount that is not one; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def refund_amount(text: str, *, as_shown: bool = False, locale: Any = "en") -> Decimal:
    """Pesos to refund in ``text`` (``REFUND_AMOUNT_PATTERN``: "500", "1120.50"), to the
    centavo. Whether that much is left to refund is decided under the payment's lock.

    ``as_shown`` (the staff form) also takes an amount as the staff pages show one in
    ``locale`` (a Babel locale or its name): "₱1,120.50" in English and Filipino,
    "₱1.120,50" in Indonesian (the group and decimal symbols from CLDR), separators only
    between groups of three, so a figure copied from the page works; and full-width digits
    ("１１２０", as a phone's CJK keyboard types them), which NFKC normalisation turns into
    the same ASCII digits. Plain pesos ("1120.50", what the form offers) are read first, so
    no value changes meaning between languages.

    :raise BadAmount: its ``problem`` says what is wrong (not digits, more than two
        decimals, separators out of place, not more than zero).
    """
    example = "1120.00"
    if as_shown:
        example = format_decimal(Decimal("1120.00"), "#,##0.00", locale=locale)
        text = unicodedata.normalize("NFKC", text).strip().removeprefix("₱").strip()
        if not re.fullmatch(REFUND_AMOUNT_PATTERN, text):
            text = _from_shown(text, locale, example)
    if re.fullmatch(REFUND_AMOUNT_PATTERN, text):
        return Decimal(text).quantize(Decimal("0.01"), context=Context(prec=len(text) + 3))
    raise BadAmount(_amount_problem(text, example))


def _from_shown(text: str, locale: Any, example: str) -> str:
    """``text`` written with ``locale``'s separators, as plain pesos ("1120.50")."""
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    if group in text:
        grouped = rf"[0-9]{{1,3}}(?:{re.escape(group)}[0-9]{{3}})+(?:{re.escape(decimal)}[0-9]*)?"
        if not re.fullmatch(grouped, text):
            raise BadAmount(
                Problem(
                    N_("Use “%(group)s” only between groups of three digits, as in %(example)s."),
                    {"group": group, "example": example},
                )
            )
        text = text.replace(group, "")
    return text.replace(decimal, ".")


def _amount_problem(text: str, example: str) -> Problem:
    number = re.fullmatch(r"-?[0-9]*(?:\.([0-9]+))?", text)
    if number is None or not text.strip("-."):
        return Problem(
            N_("Enter the amount in digits, such as 500 or %(example)s."), {"example": example}
        )
    if number[1] and len(number[1]) > 2:
        return Problem(
            N_("Use at most two decimals (centavos): %(amount)s has %(count)d."),
            {"amount": text, "count": len(number[1])},
        )
    return Problem(N_("Enter an amount more than ₱0.00."), {})


@dataclass(frozen=True)
class RefundRequest:
    reason: str
    amount: Decimal | None  # pesos; None: all that remains refundable
    expected_version: int | None
    idempotency_key: str | None = None


def parse_refund_request(
    *,
    reason: Any,
    amount: Any = None,
    expected_version: Any = None,
    header_idempotency_key: str | None = None,
    idempotency_key: Any = None,
) -> RefundRequest:
    """Check a refund's fields (staff form or API), collecting every problem. ``amount`` is
    pesos as text ("500", "500.00"; ``REFUND_AMOUNT_PATTERN``), more than zero; whether that
    much is left to refund is decided under the payment's lock. ``header_idempotency_key``:
    the API's ``Idempotency-Key`` header, already unescaped (``KEY_PATTERN``);
    ``idempotency_key``: the body's, as a create reads it (both only if equal).

    :raise InvalidPaymentRequest: 422, ``errors`` names each bad field.
    """
    errors: dict[str, str] = {}
    problem = reason_problem(reason)
    if problem:
        errors["reason"] = str(problem)
    parsed = _parse_refund_amount(amount, errors)
    version = _parse_version(expected_version, errors)
    key = _one_key(idempotency_key, header_idempotency_key, errors)
    _raise_if_any(errors)
    return RefundRequest(reason.strip(), parsed, version, key)


def _parse_refund_amount(value: Any, errors: dict[str, str]) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors["amount"] = "Must be an amount in pesos more than 0, such as 500 or 500.00, as text."
        return None
    try:
        return refund_amount(value)
    except BadAmount as bad:
        errors["amount"] = str(bad.problem)
        return None
