"""The second factor: TOTP codes (RFC 6238, via pyotp) and one-use recovery codes.

Failed codes are counted per account on the user's row, under its row lock, so the count
holds across processes and addresses: after ``OTP_MAX_FAILURES`` wrong codes in a row the
account refuses every code for ``OTP_LOCKOUT_MINUTES`` (OWASP's Multifactor Authentication
Cheat Sheet asks for this limit). A TOTP code is accepted once: its time step must be later
than the last accepted one (RFC 6238 section 5.2). Recovery codes are 80 random bits, so a
SHA-256 of each is enough to store (as API tokens are).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
import secrets
from datetime import timedelta

import pyotp
import segno
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.db import transaction
from app.models import AuditAction, RecoveryCode, User, utcnow

ISSUER = "Clinic checkout"
RECOVERY_CODES = 10
_TOTP = re.compile(r"\d{6}")
_RECOVERY = re.compile(r"[a-z2-7]{16}")


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    LOCKED = "locked"


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits, RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def qr_data_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` URI of ``secret`` as an SVG QR code in a ``data:`` URI (the page's
    CSP allows ``img-src data:``); segno writes SVG with no imaging library."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _step(secret: str, code: str) -> int | None:
    """The time step ``code`` belongs to (this one or its neighbours, for clock drift)."""
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=30 * drift)
        if secrets.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


def enrol(user_id: int, secret: str, code: str) -> list[str] | None:
    """Turn on the second factor with ``secret`` if ``code`` is its current code.

    :return: the new recovery codes (shown once, stored hashed), or None for a wrong code.
    """
    code = _normalized(code)
    step = _step(secret, code) if _TOTP.fullmatch(code) else None
    if step is None:
        return None
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    with transaction() as session:
        user = _locked(session, user_id)
        user.totp_secret, user.totp_enabled_at, user.totp_last_step = secret, utcnow(), step
        session.query(RecoveryCode).filter_by(user_id=user.id).delete()
        session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
        audit.record(AuditAction.TWO_FACTOR_ENROLLED, actor=user, session=session)
    return [f"{c[:4]}-{c[4:8]}-{c[8:12]}-{c[12:]}" for c in codes]


def check(user_id: int, code: str) -> Verdict:
    """Judge a sign-in's second factor (a TOTP code or a recovery code) and record it.

    A wrong code counts toward the lockout; a locked account refuses even a right one.
    """
    code = _normalized(code)
    with transaction() as session:
        user = _locked(session, user_id)
        now = utcnow()
        if user.otp_locked_until is not None and user.otp_locked_until > now:
            audit.record(AuditAction.SECOND_FACTOR_FAILED, actor=user, session=session, locked=True)
            return Verdict.LOCKED
        if _accept_totp(user, code) or _spend_recovery(session, user, code):
            user.otp_failures = 0
            return Verdict.ACCEPTED
        return _count_failure(session, user, now)


def _count_failure(session: Session, user: User, now) -> Verdict:
    user.otp_failures = (user.otp_failures or 0) + 1
    audit.record(AuditAction.SECOND_FACTOR_FAILED, actor=user, session=session)
    if user.otp_failures < current_app.config["OTP_MAX_FAILURES"]:
        return Verdict.WRONG
    user.otp_failures = 0
    user.otp_locked_until = now + timedelta(minutes=current_app.config["OTP_LOCKOUT_MINUTES"])
    return Verdict.LOCKED


def _accept_totp(user: User, code: str) -> bool:
    if not user.totp_secret or not _TOTP.fullmatch(code):
        return False
    step = _step(user.totp_secret, code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def _spend_recovery(session: Session, user: User, code: str) -> bool:
    if not _RECOVERY.fullmatch(code):
        return False
    found = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if found is None:
        return False
    found.used_at = utcnow()
    audit.record(AuditAction.RECOVERY_CODE_USED, actor=user, session=session)
    return True


def _locked(session: Session, user_id: int) -> User:
    return session.execute(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _normalized(code: object) -> str:
    if not isinstance(code, str):
        return ""
    return re.sub(r"[\s-]", "", code).lower()[:40]


def _recovery_code() -> str:
    # 10 random bytes: 80 bits, exactly 16 base32 letters (no padding).
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


def _hash(code: str) -> str:
    return hashlib.sha256(("recovery:" + code).encode()).hexdigest()
