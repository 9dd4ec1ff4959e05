"""The fields of a VAT invoice for services, as data: what the API's payment detail returns
beside the amounts the page, the printed A4 and the PDF show (docs/invoices.md, RR 7-2024).

Amounts are strings of pesos with two decimals, as everywhere in the API.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.formatting import registered_tin, sale_of
from app.models import Payment


def _pesos(value) -> str:
    return f"{value:.2f}"


def invoice_fields(payment: Payment) -> dict[str, Any] | None:
    """The invoice fields of ``payment`` (with its invoice, tax record, discount, consultation
    and user loaded or loadable); None when it has no invoice."""
    invoice = payment.invoice
    if invoice is None:
        return None
    config, sale, buyer = current_app.config, sale_of(payment), payment.user
    vat_registered = config["CLINIC_VAT_REGISTERED"]
    granted = payment.sale_discount
    fields: dict[str, Any] = {
        "seller": {
            "registered_name": config["CLINIC_NAME"],
            "business_style": config["CLINIC_BUSINESS_STYLE"],
            "address": config["CLINIC_ADDRESS"],
            "tin_label": "VAT Reg. TIN" if vat_registered else "Non-VAT Reg. TIN",
            "tin": registered_tin(config["CLINIC_TIN"], config["CLINIC_BRANCH_CODE"]),
            "branch_code": config["CLINIC_BRANCH_CODE"],
        },
        "number": invoice.invoice_number,
        "date": invoice.issued_at.isoformat(),
        "buyer": {"name": buyer.name, "address": buyer.billing_address, "tin": buyer.tin},
        "lines": [
            {
                "description": f"Consultation with {payment.consultation.doctor_name}",
                "quantity": 1,
                "unit_price": _pesos(sale.quoted_fee),
                "amount": _pesos(sale.quoted_fee),
            }
        ],
        "vat_registered": vat_registered,
        "vatable_sales": _pesos(sale.vatable_sales),
        "vat_exempt_sales": _pesos(sale.vat_exempt_sales),
        "zero_rated_sales": _pesos(sale.zero_rated_sales),
        "vat": _pesos(sale.vat),
        "discount": _pesos(sale.discount),
        "discount_holder": None
        if granted is None
        else {"kind": granted.kind, "id_number": granted.id_number, "name": granted.holder_name},
        "total": _pesos(invoice.amount),
        "computerized_invoicing": config["CLINIC_INVOICE_PERMIT"],
    }
    return fields
