"""The one rule for a typed reason and a typed refund amount (app/payments/requests.py)."""

from __future__ import annotations

import re
import sys
import unicodedata
from decimal import Decimal

import pytest

from app.payments import requests
from app.payments.requests import BadAmount, reason_problem, refund_amount

JOINERS = {"\u200c", "\u200d"}


def test_the_format_characters_refused_are_unicode_s_cf_but_the_joiners():
    # The list is Unicode 14's (this Python's); a newer one may know more Cf characters.
    cf = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    listed = {
        chr(c) for c in range(sys.maxunicode + 1) if re.match(f"[{requests._FORMAT}]", chr(c))
    }
    assert listed <= cf
    if unicodedata.unidata_version == "14.0.0":
        assert listed == cf - JOINERS


@pytest.mark.parametrize(
    ("reason", "msgid_start"),
    [
        ("a\u202eb", "Remove the invisible character"),
        ("\u2066x\u2069", "Remove the invisible character"),
        ("soft\u00adhyphen", "Remove the invisible character"),
        ("\u200d \u200c\ufe0f", "Give a reason"),
        ("\u3164", "Give a reason"),
        ("x" * 501, "Shorten the reason"),
        ("line\nbreak", "Remove the control character"),
        (5, "Give the reason as text."),
    ],
)
def test_a_reason_that_is_not_one_says_why(reason, msgid_start):
    problem = reason_problem(reason)
    assert problem is not None and str(problem).startswith(msgid_start)


@pytest.mark.parametrize(
    "reason",
    ["Doctor ill", "x" * 500, "Doktor \U0001f469\u200d\u2695\ufe0f sakit", "می\u200cخواهم"],
)
def test_a_reason_with_joiners_or_at_the_limit_is_taken(reason):
    assert reason_problem(reason) is None
    assert re.fullmatch(requests.REASON_PATTERN, reason)


@pytest.mark.parametrize(
    ("typed", "pesos"),
    [
        ("500", "500.00"),
        ("1120.5", "1120.50"),
        (".5", "0.50"),
        ("99999999999999999999", "99999999999999999999.00"),
    ],
)
def test_the_api_form_of_an_amount(typed, pesos):
    assert refund_amount(typed) == Decimal(pesos)


@pytest.mark.parametrize("typed", ["₱1,000.00", "1,000.00", "１０００", "₱ 1000", " 1,000 "])
def test_an_amount_as_the_page_shows_it(typed):
    assert refund_amount(typed, as_shown=True) == Decimal("1000.00")
    with pytest.raises(BadAmount):
        refund_amount(typed)  # the API keeps one plain form


@pytest.mark.parametrize(
    ("typed", "start"),
    [
        ("999.999", "Use at most two decimals (centavos): 999.999 has 3."),
        ("1,00,0", "Use “,” only"),
        ("abc", "Enter the amount in digits"),
        ("5.", "Enter the amount in digits"),
        ("1e3", "Enter the amount in digits"),
        ("٥٠٠", "Enter the amount in digits"),
        ("0", "Enter an amount more than ₱0.00."),
        ("-5", "Enter an amount more than ₱0.00."),
    ],
)
def test_an_amount_that_is_not_one_says_why(typed, start):
    with pytest.raises(BadAmount) as refused:
        refund_amount(typed, as_shown=True)
    assert str(refused.value.problem).startswith(start)
