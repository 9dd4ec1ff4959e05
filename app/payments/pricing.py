"""What a consultation costs: VAT, and the senior citizen / PWD discount. No database.

One function (``price_sale``) gives every amount the checkout charges and the invoice prints:
gross, VATable sales, VAT-exempt sales, zero-rated sales, VAT, discount and total.

The discount (20%, and exemption from VAT) on the professional fees of attending physicians
in outpatient clinics: RA 9994 §4(a)(2) for senior citizens (tax rules: RR 7-2010 as amended),
RA 7277 §32 as amended by RA 10754 §1 for persons with disability (RR 5-2017 §3.4). The VAT
comes off first and the 20% is taken from the price without VAT (both regulations compute
the discount on the price net of VAT): ₱1,120.00 with 12% VAT in it is ₱1,000.00 VAT-exempt,
less ₱200.00, ₱800.00 to pay.

Rounding, one rule: every amount that is stored or printed is quantized to the centavo,
half-up (``app.models.money``), in this order:

1. VAT in the quoted fee: ``VAT = fee × rate / (1 + rate)`` half-up (``app.payments.vat``);
   the VAT-exempt sale is ``fee − VAT``, the same figure a full-price invoice of that fee
   calls its VATable sales, so two invoices for one fee never disagree on it;
2. the discount: ``20% × VAT-exempt sale``, half-up;
3. the total: ``VAT-exempt sale − discount``, exact (no rounding left).

So the printed lines always add up to the centavo. The regulations give no rounding rule;
half-up on each printed line is the stricter reading (every line is a figure the patient can
check by hand), and the discount rounds up at a half centavo, in the patient's favour.

A clinic that is not VAT-registered charges no VAT: the discount is 20% of the fee itself (a
non-VAT seller may not pass its percentage tax on to the patient, RR 5-2017), and its invoice
shows no VAT breakdown (RR 7-2024: a non-VAT invoice shows no VAT).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from flask_babel import gettext

from app.i18n import N_
from app.models import Payment
from app.models.columns import money
from app.payments.vat import VatBreakdown, vat_breakdown

#: RA 9994 §4(a) and RA 7277 §32 as amended by RA 10754: "at least twenty percent".
DISCOUNT_RATE = Decimal("0.20")


class DiscountKind(enum.StrEnum):
    SENIOR_CITIZEN = "senior_citizen"
    PWD = "pwd"

    @property
    def label(self) -> str:
        """The kind's name in the request's language (English outside a request)."""
        return gettext(_KIND_LABELS[self.value])


_KIND_LABELS = {"senior_citizen": N_("Senior citizen"), "pwd": N_("PWD")}


ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Sale:
    """One consultation's amounts, in pesos (centavos). ``total`` is what the patient pays.

    ``gross``: the price before any discount, with its VAT when VAT applies.
    ``vatable_sales + vat_exempt_sales + zero_rated_sales + vat − discount == total``.
    """

    gross: Decimal
    vatable_sales: Decimal
    vat_exempt_sales: Decimal
    zero_rated_sales: Decimal
    vat: Decimal
    discount: Decimal
    total: Decimal
    rate: Decimal
    prices_include_vat: bool
    vat_registered: bool
    discount_kind: DiscountKind | None = None

    @property
    def taxable_base(self) -> Decimal:
        """The VATable sales, under the name the VAT record and ``_amounts.html`` use."""
        return self.vatable_sales

    @property
    def quoted_fee(self) -> Decimal:
        """The fee as the invoice's line prints it: with its VAT when prices include VAT (and
        when there is no VAT), without it when VAT is added on top."""
        if self.prices_include_vat or not self.vat_registered:
            return self.gross
        return self.vatable_sales + self.vat_exempt_sales

    @property
    def vat_removed(self) -> Decimal:
        """The VAT a discounted sale leaves out of the gross (``gross − VAT-exempt sale``)."""
        if not (self.discounted and self.vat_registered):
            return ZERO
        return self.gross - self.vat_exempt_sales

    @property
    def discounted(self) -> bool:
        return self.discount_kind is not None

    def vat_record(self) -> VatBreakdown:
        """What the payment's tax record stores: the VAT and the sales it is levied on."""
        return VatBreakdown(
            self.vatable_sales,
            self.vat,
            self.vatable_sales + self.vat,
            self.rate,
            self.prices_include_vat,
        )


def price_sale(
    fee: Decimal,
    rate: Decimal,
    *,
    prices_include_vat: bool,
    vat_registered: bool,
    discount_kind: DiscountKind | None = None,
) -> Sale:
    """The amounts of one consultation with fee ``fee`` (pesos) at VAT ``rate`` (0.12).

    ``discount_kind``: the patient's recorded senior citizen or PWD card, if any.

    :raise ValueError: ``rate`` is not a fraction in [0, 1) (``vat_breakdown``).
    """
    kind = DiscountKind(discount_kind) if discount_kind is not None else None
    if not vat_registered:
        fee = money(fee)
        discount = money(fee * DISCOUNT_RATE) if kind else ZERO
        # Not VAT-registered: the whole sale is outside VAT; it is shown as the fee.
        return Sale(fee, ZERO, ZERO, ZERO, ZERO, discount, fee - discount, Decimal(0),
                    prices_include_vat, False, kind)  # fmt: skip
    vat = vat_breakdown(fee, rate, prices_include_vat=prices_include_vat)
    if kind is None:
        return Sale(vat.total, vat.taxable_base, ZERO, ZERO, vat.vat, ZERO, vat.total,
                    vat.rate, prices_include_vat, True)  # fmt: skip
    exempt = vat.taxable_base
    discount = money(exempt * DISCOUNT_RATE)
    return Sale(vat.total, ZERO, exempt, ZERO, ZERO, discount, exempt - discount,
                vat.rate, prices_include_vat, True, kind)  # fmt: skip


def recorded_sale(payment: Payment, *, vat_registered: bool) -> Sale:
    """The amounts a stored payment was charged, read back from its tax record and its
    discount (``SaleDiscount``), for its invoice and its pages. ``vat_registered``: the
    clinic's ``CLINIC_VAT_REGISTERED``."""
    tax, granted = payment.tax_record, payment.sale_discount
    rate = tax.rate if tax is not None else Decimal(0)
    included = tax.prices_include_vat if tax is not None else True
    if granted is not None:
        return Sale(money(granted.gross), ZERO, money(granted.vat_exempt_sales), ZERO, ZERO,
                    money(granted.discount), money(granted.net), rate, included,
                    vat_registered, DiscountKind(granted.kind))  # fmt: skip
    total = money(payment.amount)
    if tax is None or not vat_registered:
        return Sale(total, ZERO, ZERO, ZERO, ZERO, ZERO, total, rate, included, vat_registered)
    vatable, vat = money(tax.taxable_base), money(tax.amount)
    return Sale(vatable + vat, vatable, ZERO, ZERO, vat, ZERO, vatable + vat, rate, included,
                True)  # fmt: skip


def current_sale(fee: Decimal, discount_kind: DiscountKind | str | None) -> Sale:
    """``price_sale`` under this app's ``TAX_RATE``, ``PRICES_INCLUDE_VAT`` and
    ``CLINIC_VAT_REGISTERED``."""
    config = current_app.config
    return price_sale(
        fee,
        config["TAX_RATE"],
        prices_include_vat=config["PRICES_INCLUDE_VAT"],
        vat_registered=config["CLINIC_VAT_REGISTERED"],
        discount_kind=DiscountKind(discount_kind) if discount_kind else None,
    )
