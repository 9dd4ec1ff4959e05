"""Senior citizen and PWD discounts: the card staff saw, and the discount each sale granted."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.columns import Money, UTCDateTime, one_of, utcnow
from app.models.people import User

#: ``app.payments.pricing.DiscountKind``'s values (models import nothing from the services).
DISCOUNT_KINDS = ("senior_citizen", "pwd")


class DiscountCard(db.Model):
    """A patient's OSCA (senior citizen) or PWD ID, recorded by staff after seeing the card.

    One per patient: while it exists, the patient's checkout charges the discounted amount.
    """

    __tablename__ = "discount_cards"
    __table_args__ = (
        CheckConstraint(one_of("kind", DISCOUNT_KINDS), name="ck_discount_cards_kind"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    id_number: Mapped[str] = mapped_column(String(32))
    #: The name as printed on the card (the BIR record asks for the card holder's name).
    holder_name: Mapped[str] = mapped_column(String(120))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class SaleDiscount(db.Model):
    """The discount one payment granted, as its invoice and the BIR's discount log show it.

    Copied from the card when the payment was made: clearing or changing the card later
    changes no invoice. Pesos: ``gross − (gross − vat_exempt_sales) − discount == net``.
    """

    __tablename__ = "sale_discounts"
    __table_args__ = (
        CheckConstraint(one_of("kind", DISCOUNT_KINDS), name="ck_sale_discounts_kind"),
        CheckConstraint("discount > 0 AND net > 0", name="ck_sale_discounts_positive"),
        Index("ix_sale_discounts_created_at", "created_at"),
    )

    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    id_number: Mapped[str] = mapped_column(String(32))
    holder_name: Mapped[str] = mapped_column(String(120))
    gross: Mapped[Decimal] = mapped_column(Money)
    vat_exempt_sales: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    net: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
