"""The audit trail: one append-only row per staff view, export, money action and sign-in."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.columns import JSONType, UTCDateTime, utcnow


class AuditAction(enum.StrEnum):
    """What was done. Views and exports read personal data; the rest change something."""

    INVOICE_VIEWED = "invoice.viewed"
    INVOICES_EXPORTED = "invoices.exported"
    PAYMENT_VIEWED = "payment.viewed"
    REFUNDED = "payment.refunded"
    DELETED = "payment.deleted"
    DISCOUNT_CHANGED = "discount.changed"
    DAY_CLOSED = "day.closed"
    SIGN_IN = "sign_in.succeeded"
    SIGN_IN_FAILED = "sign_in.failed"
    SECOND_FACTOR_FAILED = "second_factor.failed"
    TWO_FACTOR_ENROLLED = "two_factor.enrolled"
    TWO_FACTOR_RESET = "two_factor.reset"
    RECOVERY_CODE_USED = "recovery_code.used"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_DISABLED = "account.disabled"
    AUDIT_EXPORTED = "audit.exported"


class AuditEvent(db.Model):
    """Who (``actor_id``, or ``actor_label`` for a failed sign-in's email hash), did what
    (``action``), to whose data (``patient_id``, ``payment_id``), when (UTC), from where
    (``address``: the client after ``TRUSTED_PROXY_HOPS``). Rows are inserted, never
    updated, except by the retention purge, which blanks the personal fields."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_label: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
