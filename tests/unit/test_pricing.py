"""The senior citizen / PWD arithmetic (app/payments/pricing.py), with no database.

Each row was worked by hand: VAT = fee × 12/112 half-up (or fee × 12% when VAT is added),
VAT-exempt sale = the fee without its VAT, discount = 20% of that half-up, total = the rest.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.payments.pricing import DiscountKind, price_sale

SC, PWD = DiscountKind.SENIOR_CITIZEN, DiscountKind.PWD
RATE = Decimal("0.12")

# fee, prices include VAT, VAT-registered, discount ->
#   gross, VATable sales, VAT-exempt sales, VAT, discount, total
TABLE = [
    # The regulations' own example: VAT out first, then 20% off.
    ("1120.00", True, True, SC, "1120.00", "0.00", "1000.00", "0.00", "200.00", "800.00"),
    ("1120.00", True, True, PWD, "1120.00", "0.00", "1000.00", "0.00", "200.00", "800.00"),
    ("1120.00", True, True, None, "1120.00", "1000.00", "0.00", "120.00", "0.00", "1120.00"),
    # The smallest fee: VAT 107.142857… -> 107.14; 20% of 892.86 = 178.572 -> 178.57.
    ("1000.00", True, True, PWD, "1000.00", "0.00", "892.86", "0.00", "178.57", "714.29"),
    # ₱0.01 edges around it.
    ("1000.01", True, True, SC, "1000.01", "0.00", "892.87", "0.00", "178.57", "714.30"),
    # VAT 3000.06 / 28 = 107.145 exactly: the tie goes up, to 107.15.
    ("1000.02", True, True, SC, "1000.02", "0.00", "892.87", "0.00", "178.57", "714.30"),
    ("1000.02", True, True, None, "1000.02", "892.87", "0.00", "107.15", "0.00", "1000.02"),
    ("1119.99", True, True, SC, "1119.99", "0.00", "999.99", "0.00", "200.00", "799.99"),
    ("1120.01", True, True, SC, "1120.01", "0.00", "1000.01", "0.00", "200.00", "800.01"),
    # 20% of 1000.03 = 200.006 -> 200.01.
    ("1120.03", True, True, PWD, "1120.03", "0.00", "1000.03", "0.00", "200.01", "800.02"),
    ("5000.00", True, True, SC, "5000.00", "0.00", "4464.29", "0.00", "892.86", "3571.43"),
    # VAT added to the fee (PRICES_INCLUDE_VAT=0): the fee is the VAT-exempt sale.
    ("1000.00", False, True, SC, "1120.00", "0.00", "1000.00", "0.00", "200.00", "800.00"),
    ("1000.03", False, True, PWD, "1120.03", "0.00", "1000.03", "0.00", "200.01", "800.02"),
    ("1000.00", False, True, None, "1120.00", "1000.00", "0.00", "120.00", "0.00", "1120.00"),
    # Not VAT-registered: no VAT to remove; 20% of the fee.
    ("1120.00", True, False, SC, "1120.00", "0.00", "0.00", "0.00", "224.00", "896.00"),
    ("1000.03", True, False, PWD, "1000.03", "0.00", "0.00", "0.00", "200.01", "800.02"),
    ("1000.01", False, False, SC, "1000.01", "0.00", "0.00", "0.00", "200.00", "800.01"),
    ("1000.00", True, False, None, "1000.00", "0.00", "0.00", "0.00", "0.00", "1000.00"),
]


@pytest.mark.parametrize(
    ("fee", "included", "registered", "kind", "gross", "vatable", "exempt", "vat", "off", "total"),
    TABLE,
)
def test_each_sale_is_priced_as_worked_by_hand(
    fee, included, registered, kind, gross, vatable, exempt, vat, off, total
):
    # given / when
    sale = price_sale(
        Decimal(fee), RATE, prices_include_vat=included, vat_registered=registered,
        discount_kind=kind,
    )  # fmt: skip
    # then
    assert (sale.gross, sale.vatable_sales, sale.vat_exempt_sales, sale.vat) == (
        Decimal(gross), Decimal(vatable), Decimal(exempt), Decimal(vat),
    )  # fmt: skip
    assert (sale.discount, sale.total, sale.zero_rated_sales) == (
        Decimal(off), Decimal(total), Decimal("0.00"),
    )  # fmt: skip
    assert sale.discount_kind == kind


def test_a_clinic_at_zero_percent_vat_still_gives_twenty_percent_off():
    sale = price_sale(Decimal("1000"), Decimal(0), prices_include_vat=True, vat_registered=True,
                      discount_kind=SC)  # fmt: skip
    assert (sale.vat_exempt_sales, sale.discount, sale.total) == (
        Decimal("1000.00"), Decimal("200.00"), Decimal("800.00"),
    )  # fmt: skip


def test_the_tax_record_of_a_discounted_sale_holds_no_vat():
    sale = price_sale(Decimal("1120"), RATE, prices_include_vat=True, vat_registered=True,
                      discount_kind=PWD)  # fmt: skip
    record = sale.vat_record()
    assert (record.taxable_base, record.vat, record.rate) == (
        Decimal("0.00"),
        Decimal("0.00"),
        RATE,
    )


def test_an_unknown_discount_kind_is_refused():
    with pytest.raises(ValueError):
        price_sale(Decimal("1000"), RATE, prices_include_vat=True, vat_registered=True,
                   discount_kind="student")  # fmt: skip


fees = st.decimals(min_value=1000, max_value=10**7, places=2, allow_nan=False)


@given(fee=fees, included=st.booleans(), registered=st.booleans(),
       kind=st.sampled_from([None, SC, PWD]))  # fmt: skip
def test_every_printed_line_adds_up_and_is_within_half_a_centavo_of_the_exact_figure(
    fee, included, registered, kind
):
    sale = price_sale(fee, RATE, prices_include_vat=included, vat_registered=registered,
                      discount_kind=kind)  # fmt: skip
    lines = sale.vatable_sales + sale.vat_exempt_sales + sale.zero_rated_sales + sale.vat
    base = lines if registered else sale.gross
    assert base - sale.discount == sale.total
    for amount in (sale.gross, sale.vat_exempt_sales, sale.vat, sale.discount, sale.total):
        assert amount == amount.quantize(Decimal("0.01"))
    # The discount is 20% of what it is taken from, to half a centavo (the exact figure by
    # fractions, independent of the code's Decimal steps).
    taken_from = sale.vat_exempt_sales if registered else sale.gross
    exact = Fraction(taken_from) * Fraction(1, 5) if kind else Fraction(0)
    assert abs(Fraction(sale.discount) - exact) <= Fraction(1, 200)
    if kind and registered:
        exact_exempt = Fraction(fee) / Fraction(112, 100) if included else Fraction(fee)
        assert abs(Fraction(sale.vat_exempt_sales) - exact_exempt) <= Fraction(1, 200)
    assert sale.total <= sale.gross
