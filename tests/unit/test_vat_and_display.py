"""The VAT rule's three numbers and how money, times and states read. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import formatting
from app.config import ConfigError, clinic_timezone
from app.payments.vat import vat_breakdown

RATE = Decimal("0.12")


def test_the_issue_example_included_vat_adds_up():
    vat = vat_breakdown(Decimal("1250.00"), RATE, prices_include_vat=True)
    assert (vat.taxable_base, vat.vat, vat.total) == (
        Decimal("1116.07"),
        Decimal("133.93"),
        Decimal("1250.00"),
    )


def test_included_vat_rounds_half_up_not_to_even():
    # 9,333.38 × 0.12 / 1.12 = 1,000.005 exactly: half-up gives .01, banker's rounding .00
    vat = vat_breakdown(Decimal("9333.38"), RATE, prices_include_vat=True)
    assert vat.vat == Decimal("1000.01") and vat.taxable_base == Decimal("8333.37")


def test_excluded_vat_is_added_to_the_fee_half_up():
    vat = vat_breakdown(Decimal("1000.04"), Decimal("0.125"), prices_include_vat=False)
    assert vat.vat == Decimal("125.01")  # 125.005 -> up
    assert (vat.taxable_base, vat.total) == (Decimal("1000.04"), Decimal("1125.05"))


@given(
    fee=st.decimals(min_value=1000, max_value=10**9, places=2),
    rate=st.decimals(min_value=0, max_value="0.5", places=4),
    included=st.booleans(),
)
def test_the_three_numbers_always_add_up_to_the_centavo(fee, rate, included):
    vat = vat_breakdown(fee, rate, prices_include_vat=included)
    assert vat.taxable_base + vat.vat == vat.total
    assert vat.total == (fee if included else fee + vat.vat)
    assert vat.vat == vat.vat.quantize(Decimal("0.01"))


def test_a_rate_of_one_or_more_is_refused():
    with pytest.raises(ValueError):
        vat_breakdown(Decimal("1000"), Decimal("1"), prices_include_vat=True)


def test_times_read_in_clinic_time_with_the_offset(clinic_time):
    at = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert formatting.format_when(at) == "1 Dec 2026, 10:30 +08:00"
    assert formatting.format_day(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "1 Dec 2026"
    assert formatting.local_iso(at) == "2026-12-01T10:30:00+08:00"
    assert formatting.format_when(None) == "—"


def test_money_reads_as_pesos_half_up():
    assert formatting.format_money(Decimal("5000")) == "₱5,000.00"
    assert formatting.format_money(Decimal("1234567.895")) == "₱1,234,567.90"
    assert formatting.format_money(None) == ""


@pytest.mark.parametrize(
    ("status", "stale", "label", "badge"),
    [
        ("pending", False, "Amount due", "Payment pending"),
        ("pending", True, "Not charged", "Payment expired"),
        ("processing", False, "Amount due", "Payment pending"),
        ("completed", False, "Amount charged", "Paid"),
        ("refunded", False, "Amount charged", "Refunded"),
        ("failed", False, "Not charged", "Payment declined"),
        ("expired", False, "Not charged", "Payment expired"),
        ("cancelled", False, "Not charged", "Payment cancelled"),
    ],
)
def test_amount_words_match_the_state(status, stale, label, badge):
    assert formatting.amount_label(status, stale) == label
    assert formatting.payment_state(status, stale) == badge


@pytest.mark.parametrize("name", ["Asia/Manilla", "", "UTC+8", " Asia/Manila", "../etc/passwd"])
def test_an_unknown_clinic_timezone_is_refused(name):
    with pytest.raises(ConfigError, match="CLINIC_TIMEZONE"):
        clinic_timezone(name)
