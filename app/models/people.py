"""Who uses the clinic's checkout (patients and staff) and the consultations they pay for."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models.columns import CURRENCY, Money, UTCDateTime, one_of, utcnow


class Role(enum.StrEnum):
    """Who a user is. Staff roles are ranked: a manager may do all a cashier may.

    - ``cashier``: finds, opens, prints and exports invoices; sees the day's books;
    - ``manager``: also refunds, records SC/PWD discounts, closes a day, manages staff.
    """

    PATIENT = "patient"
    CASHIER = "cashier"
    MANAGER = "manager"


STAFF_RANK = {Role.CASHIER: 1, Role.MANAGER: 2}


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
    #: False: a disabled account (a manager's staff page); it cannot sign in or use a token.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: The TOTP shared secret (RFC 6238, base32), set at enrolment; used once ``totp_enabled_at``.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The last accepted TOTP time step: a code is accepted once (RFC 6238 section 5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: Wrong second-factor codes in a row, and until when the account refuses codes.
    otp_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    otp_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What an invoice prints under the buyer's name when given (RR 7-2024: the buyer's
    #: address and TIN), e.g. for a patient whose employer reimburses the fee.
    billing_address: Mapped[str | None] = mapped_column(String(255))
    tin: Mapped[str | None] = mapped_column(String(20))

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_RANK

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_active(self) -> bool:
        """Flask-Login's check: a disabled account cannot sign in."""
        return bool(self.active) if self.active is not None else True

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    def has_role(self, role: Role) -> bool:
        """True when this user may act as ``role``: the same role, or a higher staff role."""
        if role == Role.PATIENT:
            return self.role == Role.PATIENT
        return STAFF_RANK.get(self.role, 0) >= STAFF_RANK[role]

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


class RecoveryCode(db.Model):
    """A one-use second factor for when the phone is lost: shown once at enrolment, stored
    as a hash (werkzeug's), spent by setting ``used_at``."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
