"""Hypothesis strategies for bad payment requests, shared by the service and HTTP fuzz suites.

Each strategy draws values that are wrong by construction; the few that could still be
right by accident (an amount equal to the fee, a key of printable ASCII) are left out by
the tests with ``assume``, using the ``looks_valid_*`` predicates below.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from hypothesis import strategies as st

from app.payments.requests import MAX_KEY_LENGTH, METHODS

NAMED_AMOUNTS = [
    -5000,
    -1,
    0,
    Decimal("999.99"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("1e309"),
    10**15,
    10**5000,  # too many digits for str(): must still be a plain refusal
    "1,000",
    "5,000.00",
    "",
    " ",
    "5000.001",
    "1e3",
    "5e3",
    "0x1388",
    "₱5000",
    "5000 PHP",
    "٥٠٠٠",  # Arabic-Indic digits
    "५०००",  # Devanagari digits
    "５０００",  # fullwidth digits
    "5_000",
    "+5000",
    "-5000",
    True,
    False,
    [5000],
    {"value": 5000},
]

_non_ascii_digits = st.text(
    alphabet=st.characters(categories=["Nd"], exclude_characters="0123456789"),
    min_size=1,
    max_size=8,
)

bad_amounts = st.one_of(
    st.sampled_from(NAMED_AMOUNTS),
    st.integers(max_value=999),
    st.integers(min_value=10**10, max_value=10**40),
    st.decimals(max_value=Decimal("999.99"), places=2),
    st.decimals(min_value=Decimal("1000"), max_value=Decimal("99999"), places=4).filter(
        lambda d: d != d.quantize(Decimal("0.01"))
    ),
    st.decimals(allow_nan=True, allow_infinity=True).filter(lambda d: not d.is_finite()),
    st.floats(allow_nan=True, allow_infinity=True),
    _non_ascii_digits,
    st.text(max_size=12),
)

bad_methods = st.one_of(
    st.sampled_from(
        [
            "",
            "cash",
            "GCASH",
            " gcash",
            "gcash ",
            "g cash",
            "stripe\x00",
            "bank-transfer",
            "ｇｃａｓｈ",
        ]
    ),
    st.text(max_size=30).filter(lambda m: m not in METHODS),
    st.none(),
    st.integers(),
    st.booleans(),
    st.lists(st.sampled_from(METHODS), max_size=2),
)

_printable_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_control = st.characters(categories=["Cc"])
_non_ascii = st.characters(min_codepoint=0x80)

bad_keys = st.one_of(
    st.just(""),
    st.text(_printable_ascii, min_size=MAX_KEY_LENGTH + 1, max_size=MAX_KEY_LENGTH + 300),
    st.tuples(st.text(_printable_ascii, max_size=20), _control, st.text(max_size=20)).map("".join),
    st.tuples(st.text(_printable_ascii, max_size=20), _non_ascii, st.text(max_size=20)).map(
        "".join
    ),
    st.integers(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=2),
)

# What a header can carry: bytes, read as latin-1 by the WSGI server (no CR or LF).
_latin1 = st.characters(max_codepoint=0xFF, exclude_characters="\r\n")
bad_header_keys = st.one_of(
    st.just(""),
    st.just('""'),
    st.text(_printable_ascii, min_size=MAX_KEY_LENGTH + 1, max_size=MAX_KEY_LENGTH + 300),
    st.text(_latin1, min_size=1, max_size=40),
    # a UTF-8 client's non-ASCII key, as the server decodes it
    st.text(_non_ascii, min_size=1, max_size=10).map(
        lambda s: s.encode("utf-8").decode("latin-1").replace("\r", "").replace("\n", "")
    ),
)

bad_consultation_ids = st.one_of(
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, 10**5000, "1", "one", "", None, True, 1.0, [1]]),
    st.integers(max_value=0),
    st.integers(min_value=2**31),
    st.text(max_size=12),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: d != int(d)),
)


def looks_valid_amount(value: object) -> bool:
    """The API's amount rule (docs/api.md): a number, or a string of ASCII digits with at most
    two decimals (no spaces, sign or exponent); at least 100 (MIN_CHARGE), below 10^10."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return False
    if isinstance(value, int):
        return 100 <= value < 10**10
    text = str(value)
    if isinstance(value, str) and not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", text):
        return False
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return False
    return (
        amount.is_finite() and 100 <= amount < 10**10 and amount == amount.quantize(Decimal("0.01"))
    )


def looks_valid_key(key: object) -> bool:
    return (
        isinstance(key, str)
        and re.fullmatch(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}", key) is not None
    )


def looks_valid_method(method: object) -> bool:
    return isinstance(method, str) and method in METHODS
