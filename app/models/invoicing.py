"""The numbered documents of a sale: the serial counters and the credit memos of refunds."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from app.extensions import db
from app.models.columns import Money, UTCDateTime, one_of, utcnow
from app.models.payments import Invoice, Payment
from app.models.provider import ProviderRequest


class SerialSeries(enum.StrEnum):
    """The unbroken series a branch numbers (one counter row each)."""

    INVOICE = "invoice"
    CREDIT_MEMO = "credit_memo"


class SerialCounter(db.Model):
    """The last serial a branch issued in a series. The row is locked by every issue
    (``app.payments.serials``) and bumped in the issuing transaction, so a rolled-back
    sale gives its number back and two sales never take the same one."""

    __tablename__ = "serial_counters"
    __table_args__ = (
        CheckConstraint(one_of("series", SerialSeries), name="ck_serial_counters_series"),
        CheckConstraint("last_serial >= 0", name="ck_serial_counters_last_serial"),
    )

    series: Mapped[str] = mapped_column(String(16), primary_key=True)
    branch_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    last_serial: Mapped[int] = mapped_column(Integer, default=0)


class CreditMemo(db.Model):
    """A refund's document (RR 7-2024 s. 2(2): a supplementary document): its own serial
    series per branch, the invoice it corrects, the amount returned and why. Never renumbered
    or deleted; ``provider_request`` is the refund the provider is asked to make."""

    __tablename__ = "credit_memos"
    __table_args__ = (
        UniqueConstraint("branch_code", "serial", name="uq_credit_memos_branch_serial"),
        CheckConstraint("serial >= 1", name="ck_credit_memos_serial"),
        CheckConstraint("amount > 0", name="ck_credit_memos_amount_positive"),
        # The day's books: a branch's memos by the time they were issued.
        Index("ix_credit_memos_branch_issued_at", "branch_code", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    provider_request_id: Mapped[int] = mapped_column(
        ForeignKey("provider_requests.id"), unique=True
    )
    branch_code: Mapped[str] = mapped_column(String(5))
    serial: Mapped[int] = mapped_column(Integer)
    serial_number: Mapped[str] = mapped_column(String(32))
    # Pesos returned to the patient by this memo (centavos exact).
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # A backref, so the Invoice class itself is untouched: invoice.credit_memos, oldest first.
    invoice: Mapped[Invoice] = relationship(
        backref=backref("credit_memos", order_by="CreditMemo.serial")
    )
    payment: Mapped[Payment] = relationship()
    provider_request: Mapped[ProviderRequest] = relationship()
