"""A consultation's payments and what hangs off them: invoice, tax record, history, keys."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.i18n import N_
from app.models.columns import (
    CURRENCY,
    MIN_CHARGE,
    JSONType,
    Money,
    UTCDateTime,
    one_of,
    utcnow,
)
from app.models.discounts import SaleDiscount
from app.models.people import Consultation, User


class PaymentMethod(enum.StrEnum):
    STRIPE = "stripe"
    GCASH = "gcash"
    BANK_TRANSFER = "bank_transfer"
    E_WALLET = "e_wallet"

    @property
    def label(self) -> str:
        """The method's name in the request's language (English outside a request)."""
        return gettext(_METHOD_LABELS[self.value])


_METHOD_LABELS = {
    "stripe": N_("Credit or debit card"),
    "gcash": N_("GCash"),
    "bank_transfer": N_("Bank transfer"),
    "e_wallet": N_("Maya or another e-wallet"),
}


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    # The patient abandoned it before paying (set by the patient-cancel work); not active,
    # its invoice void. A provider success for it is a late success, like expired.
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


ACTIVE_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.COMPLETED)
# The partial unique index's predicate, the same text on PostgreSQL and SQLite:
# "status IN ('pending', 'processing', 'completed') AND deleted_at IS NULL".
# ``Payment.is_active`` is the same condition for queries and instances.
ACTIVE_PAYMENT_PREDICATE = f"{one_of('status', ACTIVE_STATUSES)} AND deleted_at IS NULL"


class CheckoutState(enum.StrEnum):
    """The payment's hosted checkout at the provider, as we last knew it."""

    CREATING = "creating"  # one request is creating it (since checkout_started_at)
    OPEN = "open"  # stored: checkout_session_id and checkout_url, payable
    PAID = "paid"  # the provider reported it paid
    EXPIRED = "expired"  # no longer payable (we expired it, or the provider did)


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    VOID = "void"
    REFUNDED = "refunded"


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("status", PaymentStatus), name="ck_payments_status"),
        CheckConstraint(one_of("payment_method", PaymentMethod), name="ck_payments_method"),
        # MIN_CHARGE: a senior citizen or PWD pays less than the smallest fee (MIN_FEE).
        CheckConstraint(f"amount >= {MIN_CHARGE}", name="ck_payments_amount_min"),
        CheckConstraint(f"currency = '{CURRENCY}'", name="ck_payments_currency"),
        # The last line of defence: at most one active payment per consultation,
        # whatever the application does. Failed, expired and refunded rows may repeat.
        Index(
            "uq_payments_one_active_per_consultation",
            "consultation_id",
            unique=True,
            postgresql_where=text(ACTIVE_PAYMENT_PREDICATE),
            sqlite_where=text(ACTIVE_PAYMENT_PREDICATE),
        ),
        CheckConstraint(one_of("checkout_state", CheckoutState), name="ck_payments_checkout_state"),
        UniqueConstraint("checkout_session_id", name="uq_payments_checkout_session_id"),
        Index("ix_payments_status_created_at", "status", "created_at"),
        # The few payments whose hosted checkout may still be payable (`flask payments sync`).
        Index(
            "ix_payments_checkout_open",
            "id",
            postgresql_where=text("checkout_state = 'open'"),
            sqlite_where=text("checkout_state = 'open'"),
        ),
        # A consultation's payments of any status (the checkout's active-or-refunded re-check).
        Index("ix_payments_consultation_id", "consultation_id"),
        # The few soft-deleted payments, so "leave them out of the lists" is an anti-join
        # against a tiny index, not a look at every payment.
        Index(
            "ix_payments_deleted",
            "id",
            postgresql_where=text("deleted_at IS NOT NULL"),
            sqlite_where=text("deleted_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    payment_method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PENDING)
    transaction_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    receipt_url: Mapped[str | None] = mapped_column(String(2048))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # A SHA-256 of the idempotency key: the key itself is never stored or logged.
    idempotency_key_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The provider's hosted checkout for this payment (app/payments/checkout_session.py):
    # at most one is stored, and every answer sends the patient to it.
    checkout_session_id: Mapped[str | None] = mapped_column(String(128))
    checkout_url: Mapped[str | None] = mapped_column(String(2048))
    checkout_state: Mapped[str | None] = mapped_column(String(16))
    # When the request now creating it (checkout_state "creating") began.
    checkout_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the provider reports about the charge (transaction_id is its payment id): its
    # method name (card, gcash, ...), its fee and the net it pays out, in pesos.
    provider_method: Mapped[str | None] = mapped_column(String(32))
    provider_fee: Mapped[Decimal | None] = mapped_column(Money)
    provider_net: Mapped[Decimal | None] = mapped_column(Money)

    __mapper_args__ = {"version_id_col": version}

    user: Mapped[User] = relationship()
    consultation: Mapped[Consultation] = relationship()
    invoice: Mapped[Invoice | None] = relationship(back_populates="payment", uselist=False)
    tax_record: Mapped[TaxRecord | None] = relationship(back_populates="payment", uselist=False)
    sale_discount: Mapped[SaleDiscount | None] = relationship(uselist=False, viewonly=True)
    events: Mapped[list[PaymentEvent]] = relationship(
        back_populates="payment", order_by="PaymentEvent.id"
    )

    @hybrid_property
    def is_active(self) -> bool:
        """Pending, processing or completed, and not soft-deleted: the index's predicate.

        On an instance a bool; in a query (``Payment.is_active``) the SQL condition,
        so every query for "the active payment" uses the same words as the index.
        """
        return self.status in ACTIVE_STATUSES and self.deleted_at is None

    @is_active.inplace.expression
    @classmethod
    def _is_active_expression(cls) -> ColumnElement[bool]:
        return and_(cls.status.in_([s.value for s in ACTIVE_STATUSES]), cls.deleted_at.is_(None))

    @hybrid_method
    def is_stale_pending(self, cutoff: datetime) -> bool:
        """Pending since before ``cutoff`` and not soft-deleted: abandoned at the provider.

        ``cutoff`` is an aware UTC datetime, now minus PAYMENT_PENDING_TTL seconds
        (``lifecycle.stale_cutoff``). The lifecycle expires such payments and the staff
        attention page lists them. On an instance a bool; in a query the SQL condition.
        """
        return (
            self.status == PaymentStatus.PENDING
            and self.created_at < cutoff
            and self.deleted_at is None
        )

    @is_stale_pending.inplace.expression
    @classmethod
    def _is_stale_pending_expression(cls, cutoff: datetime) -> ColumnElement[bool]:
        return and_(
            cls.status == PaymentStatus.PENDING.value,
            cls.created_at < cutoff,
            cls.deleted_at.is_(None),
        )

    @property
    def method_label(self) -> str:
        return PaymentMethod(self.payment_method).label


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(one_of("status", InvoiceStatus), name="ck_invoices_status"),
        # The staff list's keyset order, newest first, per filter: a page of any depth is one
        # index range (app/invoices/queries.py list_statement).
        Index("ix_invoices_issued_at_id", "issued_at", "id"),
        Index("ix_invoices_status_issued_at_id", "status", "issued_at", "id"),
        Index("ix_invoices_user_issued_at_id", "user_id", "issued_at", "id"),
        # Staff search by the start of a payment reference in any case:
        # lower(reference) LIKE 'inv-202611%' (text_pattern_ops, whatever the collation).
        Index(
            "ix_invoices_reference_lower",
            func.lower(text("reference")).label("reference_lower"),
            postgresql_ops={"reference_lower": "text_pattern_ops"},
        ),
        # The day's books: a branch's invoices by the time their serial was issued.
        Index("ix_invoices_branch_serial_issued_at", "branch_code", "serial_issued_at"),
        # One serial per branch, never two invoices with the same one (app/payments/serials.py).
        UniqueConstraint("branch_code", "serial", name="uq_invoices_branch_serial"),
        CheckConstraint(
            "(serial IS NULL) = (branch_code IS NULL) AND (serial IS NULL) = (serial_number IS NULL)"
            " AND (serial IS NULL) = (serial_issued_at IS NULL) AND (serial IS NULL OR serial >= 1)",
            name="ck_invoices_serial_whole",
        ),
        # A sale made is a sale numbered: a paid or refunded invoice always has its serial.
        CheckConstraint(
            "status IN ('pending', 'void') OR serial IS NOT NULL",
            name="ck_invoices_captured_have_serial",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The payment's reference ("INV-<created>-<payment id>"), given when Pay is pressed: what
    # the patient quotes while paying. Not a sales invoice number; ``serial_number`` is.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    # The older name of ``reference``, for the callers and templates that still use it.
    invoice_number: Mapped[str] = synonym("reference")
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.PENDING)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sales invoice (RR 7-2024 s. 2(1)), issued when the payment is captured and never
    # before: ``serial`` counts up by one per branch (``branch_code``, CLINIC_BRANCH_CODE),
    # ``serial_number`` is it as printed (prefix, at least six digits), fixed when issued.
    # All four are empty for an attempt that never became a sale.
    branch_code: Mapped[str | None] = mapped_column(String(5))
    serial: Mapped[int | None] = mapped_column(Integer)
    serial_number: Mapped[str | None] = mapped_column(String(32))
    serial_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment: Mapped[Payment] = relationship(back_populates="invoice")
    user: Mapped[User] = relationship()


class TaxRecord(db.Model):
    __tablename__ = "tax_records"
    __table_args__ = (
        CheckConstraint("status IN ('calculated', 'reversed')", name="ck_tax_records_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The VAT in pesos (centavos rounded half-up), on ``taxable_base``.
    amount: Mapped[Decimal] = mapped_column(Money)
    tax_type: Mapped[str] = mapped_column(String(8), default="VAT")
    rate: Mapped[Decimal] = mapped_column(Numeric(5, 4, asdecimal=True))
    # The VATable amount: the fee less its VAT when prices include VAT, else the fee.
    taxable_base: Mapped[Decimal] = mapped_column(Money)
    # Whether the fee already included the VAT (PRICES_INCLUDE_VAT when it was recorded).
    prices_include_vat: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="calculated")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    payment: Mapped[Payment] = relationship(back_populates="tax_record")


class IdempotencyKey(db.Model):
    """A durable record of one keyed request and, once finished, its final response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key_hash", name="uq_idempotency_keys_user_key"),
        CheckConstraint("state IN ('processing', 'completed')", name="ck_idempotency_state"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key_hash: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="processing")
    response_status: Mapped[int | None] = mapped_column(Integer)
    # The first answer's exact body and its own headers (a JSON list of [name, value]):
    # text, not jsonb, which would reorder keys and break byte-exact replays.
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the key was first answered again (a replay): repeats are counted here, at
    # most one write per key, instead of a payment_events row each.
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentEvent(db.Model):
    """Append-only audit trail of a payment's state changes: created, confirmed, refunded...

    Repeats that change nothing (a replayed key, a refused second payment) are not events:
    they are counted on their idempotency key (``replayed_at``, the stored 409) and logged.
    Rows of type "replayed" and "refused" written before that stay readable."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"))
    event_type: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    payment: Mapped[Payment | None] = relationship(back_populates="events")
