"""Test data: users, tokens and consultations, committed so other threads and processes see them."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from werkzeug.security import generate_password_hash

from app.auth.tokens import issue_token
from app.extensions import db
from app.models import Consultation, User, money, utcnow

_seq = itertools.count(1)
# One cheap hash for every test user: scrypt's cost is for production, not for fixtures.
PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


class Factory:
    def __init__(self, app) -> None:
        self.app = app

    def user(self, *, role: str = "patient", email: str | None = None, name: str | None = None):
        n = next(_seq)
        with self.app.app_context():
            user = User(
                email=email or f"{role}{n}@example.test",
                name=name or f"{role.title()} {n}",
                password_hash=_PASSWORD_HASH,
                role=role,
            )
            token = issue_token(user)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            user.token = token  # not a column: the raw token, for the test's requests
            db.session.expunge(user)
            return user

    def patient(self, **kw):
        return self.user(role="patient", **kw)

    def staff(self, **kw):
        """A manager: every staff power (``cashier`` for the least one)."""
        return self.user(role="manager", **kw)

    def cashier(self, **kw):
        return self.user(role="cashier", **kw)

    def consultation(self, patient, *, fee: str | Decimal = "5000", doctor: str = "Dr. Ana Cruz"):
        with self.app.app_context():
            c = Consultation(
                patient_id=patient.id,
                doctor_name=doctor,
                scheduled_at=utcnow() + timedelta(days=2),
                fee=money(fee),
            )
            db.session.add(c)
            db.session.commit()
            db.session.refresh(c)
            db.session.expunge(c)
            return c


def auth(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}
