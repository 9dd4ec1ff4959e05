"""The row a discounted sale adds beside its payment: the BIR's record of the discount.

RR 7-2010 §7(6) as amended by RR 11-2015, and RR 5-2017 for persons with disability: a
seller that grants the discount keeps a separate record of those sales with the holder's
name and ID number, the gross sale, the discount, the date and the invoice. The row copies
the card as it was when the sale was made. Helpers add, never commit.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.models import Payment, SaleDiscount
from app.payments.payable import Card
from app.payments.pricing import Sale

_INSERT_SALE_DISCOUNT = insert(SaleDiscount)


def add_sale_discount(session: Session, payment: Payment, sale: Sale, card: Card) -> None:
    """Record the discount ``sale`` grants on the new ``payment`` (its id set) to ``card``'s
    holder. ``sale`` must have been priced with ``card.kind`` (``card``: as the checkout read
    it, ``app.payments.payable``)."""
    session.execute(
        _INSERT_SALE_DISCOUNT,
        {
            "payment_id": payment.id,
            "kind": card.kind,
            "id_number": card.id_number,
            "holder_name": card.holder_name,
            "gross": sale.gross,
            "vat_exempt_sales": sale.vat_exempt_sales,
            "discount": sale.discount,
            "net": sale.total,
            "created_at": payment.created_at,
        },
    )
