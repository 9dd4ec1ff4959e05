"""What the payment provider sent us and what we must send it: notifications, the refund outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from app.extensions import db
from app.models.columns import CURRENCY, Money, UTCDateTime, one_of, utcnow
from app.models.payments import Payment


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
    # What applying it did: confirmed, failed, unchanged, or one of app.gateway.webhooks.NOT_APPLIED_OUTCOMES
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
        CheckConstraint(one_of("state", ProviderRequestState), name="ck_provider_requests_state"),
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
