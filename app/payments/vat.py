"""The VAT rule: one function gives the three numbers every page, file and API shows.

Philippine prices are quoted VAT-inclusive (``PRICES_INCLUDE_VAT=1``, the default):
the patient pays the fee, and the fee splits into the VATable amount and the VAT,

    VAT = fee × rate / (1 + rate), rounded half-up to the centavo
    VATable amount = fee − VAT,  total = fee.

With ``PRICES_INCLUDE_VAT=0`` the fee is the VATable amount:
``VAT = fee × rate`` (half-up) and the total is ``fee + VAT``.

Either way ``VATable amount + VAT == total`` to the centavo, so no printed line
contradicts another. Example: ₱1,250.00 at 12% included → VATable ₱1,116.07,
VAT ₱133.93, total ₱1,250.00.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import current_app

from app.models import money


@dataclass(frozen=True)
class VatBreakdown:
    """Pesos, quantized to centavos. ``total`` is the amount the patient is charged."""

    taxable_base: Decimal
    vat: Decimal
    total: Decimal
    rate: Decimal
    prices_include_vat: bool


def vat_breakdown(fee: Decimal, rate: Decimal, *, prices_include_vat: bool) -> VatBreakdown:
    """Split (included) or extend (excluded) ``fee`` by VAT at ``rate`` (``0.12`` for 12%).

    :raise ValueError: ``rate`` is negative or 1 or more.
    """
    fee, rate = money(fee), Decimal(rate)
    if not Decimal(0) <= rate < Decimal(1):
        raise ValueError(f"A VAT rate is a fraction between 0 and 1, got {rate}")
    if prices_include_vat:
        vat = money(fee * rate / (1 + rate))
        return VatBreakdown(fee - vat, vat, fee, rate, True)
    vat = money(fee * rate)
    return VatBreakdown(fee, vat, fee + vat, rate, False)


def current_vat(fee: Decimal) -> VatBreakdown:
    """``vat_breakdown`` under this app's ``TAX_RATE`` and ``PRICES_INCLUDE_VAT``."""
    return vat_breakdown(
        fee,
        current_app.config["TAX_RATE"],
        prices_include_vat=current_app.config["PRICES_INCLUDE_VAT"],
    )
