"""Who uses the clinic's checkout (patients and staff) and the consultations they pay for."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models.columns import CURRENCY, Money, UTCDateTime, one_of, utcnow


class Role(enum.StrEnum):
    PATIENT = "patient"
    STAFF = "staff"


def new_session_token() -> str:
    """A fresh random session token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("role", Role), name="ck_users_role"),
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
    #: What an invoice prints under the buyer's name when given (RR 7-2024: the buyer's
    #: address and TIN), e.g. for a patient whose employer reimburses the fee.
    billing_address: Mapped[str | None] = mapped_column(String(255))
    tin: Mapped[str | None] = mapped_column(String(20))

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
