"""The data model. Money is ``Decimal`` quantized to centavos; times are aware UTC."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.i18n import N_

CENT = Decimal("0.01")
CURRENCY = "PHP"
MIN_FEE = Decimal("1000")


def money(value: Decimal | int | str) -> Decimal:
    """Quantize to centavos, half-up: the one rounding rule for stored or shown money."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp, stored as UTC on every dialect, that comes back aware.

    Every aware value is converted to UTC before it is bound: SQLite keeps no offset,
    so ``10:30+08:00`` stored as given would read back as ``10:30 UTC``.
    PostgreSQL's ``timestamptz`` converts by itself; converting here too makes both
    dialects store the same instant. Naive values are refused (``ValueError``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


Money = Numeric(12, 2, asdecimal=True)
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Role(enum.StrEnum):
    PATIENT = "patient"
    STAFF = "staff"


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
    "stripe": N_("Credit or debit card (Stripe)"),
    "gcash": N_("GCash"),
    "bank_transfer": N_("Bank transfer"),
    "e_wallet": N_("E-wallet"),
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


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


# The one definition of an "active" payment: at most one per consultation.
ACTIVE_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.COMPLETED)
# The partial unique index's predicate, the same text on PostgreSQL and SQLite:
# "status IN ('pending', 'processing', 'completed') AND deleted_at IS NULL".
# ``Payment.is_active`` is the same condition for queries and instances.
ACTIVE_PAYMENT_PREDICATE = f"{_in('status', ACTIVE_STATUSES)} AND deleted_at IS NULL"


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    VOID = "void"
    REFUNDED = "refunded"


def new_session_token() -> str:
    """A fresh random session token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", Role), name="ck_users_role"),
        UniqueConstraint("session_token", name="uq_users_session_token"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.PATIENT)
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # What a session cookie names instead of the id (Flask-Login's alternative-id recipe):
    # a new one ends every session of this user at once. API tokens are separate.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The language the user chose with the footer's switch (``en``, ``id``, ``fil``);
    #: None: the browser's Accept-Language decides (app/i18n.py).
    locale: Mapped[str | None] = mapped_column(String(8))

    @property
    def is_staff(self) -> bool:
        return self.role == Role.STAFF

    def get_id(self) -> str:
        """Flask-Login's identifier for the session cookie: the session token, not the id."""
        return self.session_token

    def end_all_sessions(self) -> None:
        """Rotate the session token: every session cookie issued so far, in every browser,
        stops working (the next request is anonymous). The caller commits."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        """Store a new password hash and end all sessions. The caller commits."""
        self.password_hash = generate_password_hash(password)
        self.end_all_sessions()

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class Consultation(db.Model):
    __tablename__ = "consultations"
    __table_args__ = (
        CheckConstraint("fee >= 1000", name="ck_consultations_fee_min"),
        CheckConstraint(f"currency = '{CURRENCY}'", name="ck_consultations_currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    doctor_name: Mapped[str] = mapped_column(String(120))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fee: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[User] = relationship()


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_in("status", PaymentStatus), name="ck_payments_status"),
        CheckConstraint(_in("payment_method", PaymentMethod), name="ck_payments_method"),
        CheckConstraint("amount >= 1000", name="ck_payments_amount_min"),
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
        Index("ix_payments_status_created_at", "status", "created_at"),
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

    __mapper_args__ = {"version_id_col": version}

    user: Mapped[User] = relationship()
    consultation: Mapped[Consultation] = relationship()
    invoice: Mapped[Invoice | None] = relationship(back_populates="payment", uselist=False)
    tax_record: Mapped[TaxRecord | None] = relationship(back_populates="payment", uselist=False)
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
        CheckConstraint(_in("status", InvoiceStatus), name="ck_invoices_status"),
        Index("ix_invoices_issued_at", "issued_at"),
        Index("ix_invoices_status_issued_at", "status", "issued_at"),
        # Staff search by the start of an invoice number in any case:
        # lower(invoice_number) LIKE 'inv-202611%' (text_pattern_ops, whatever the collation).
        Index(
            "ix_invoices_invoice_number_lower",
            func.lower(text("invoice_number")).label("invoice_number_lower"),
            postgresql_ops={"invoice_number_lower": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    invoice_number: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.PENDING)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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


class GatewayEvent(db.Model):
    """Each provider notification is applied once: its id is unique.

    ``body`` is the notification exactly as signed and sent (bytes): PostgreSQL's jsonb
    and text cannot hold every JSON string (``\\u0000``, a lone surrogate), and a
    signed event must never fail to be stored. A signed event that cannot be read is
    kept too, under ``sha256:<hex of the body>`` when its own id is unreadable.
    """

    __tablename__ = "gateway_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What applying it did: confirmed, failed, unchanged, or one of NOT_APPLIED_OUTCOMES
    # (app.gateway.webhooks), which the attention page lists.
    outcome: Mapped[str | None] = mapped_column(String(32), index=True)
    note: Mapped[str | None] = mapped_column(Text)


class ProviderRequestState(enum.StrEnum):
    PENDING = "pending"  # to send, or being sent (a lease is held), or waiting to retry
    SUCCEEDED = "succeeded"  # the provider did it; ``completed_at`` is when, by its clock
    FAILED = "failed"  # the provider refused for good; a person must act


class ProviderRequest(db.Model):
    """The outbox: a money operation the provider must perform, sent by ``send-outbox``.

    Written in the same transaction as the decision (a refund), so the decision and
    the request to carry it out exist together or not at all. The worker sends it
    with ``idempotency_key`` every time, so the provider acts at most once however
    often it is sent. See ``app.payments.outbox``.
    """

    __tablename__ = "provider_requests"
    __table_args__ = (
        CheckConstraint(_in("state", ProviderRequestState), name="ck_provider_requests_state"),
        CheckConstraint("kind IN ('refund')", name="ck_provider_requests_kind"),
        CheckConstraint("amount > 0", name="ck_provider_requests_amount_positive"),
        # What the worker scans: pending rows by due time.
        Index(
            "ix_provider_requests_pending_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    reason: Mapped[str] = mapped_column(Text)
    # "<kind>-payment-<payment id>-<n>-<random>": fixed when the row is written, sent every attempt.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=ProviderRequestState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker sending the row holds it until then; past it, another worker may take it.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # A backref, so the Payment class itself is untouched: payment.provider_requests.
    payment: Mapped[Payment] = relationship(
        backref=backref("provider_requests", order_by="ProviderRequest.id")
    )


class SandboxRefund(db.Model):
    """The sandbox provider's own ledger of refunds: what a real provider keeps on its side.

    Only ``app.gateway.sandbox`` writes it, on its own connection. No foreign key to
    our tables: the provider knows charges by its transaction id, not our rows.
    """

    __tablename__ = "sandbox_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    charge_id: Mapped[str] = mapped_column(String(255), index=True)
    payment_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    # NULL when the caller sent none (or the sandbox was told to ignore keys).
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # How many calls were answered with this refund (the first plus idempotent replays).
    calls: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# A provider event with one of these outcomes was not applied: staff must look at it
# (the attention page lists them all).
NOT_APPLIED_OUTCOMES = ("duplicate_charge", "amount_mismatch", "refused", "refund_unmatched")
