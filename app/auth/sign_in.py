"""Signing in after the password: the second factor when the account has one, the audit
row of every success and failure, and the staff session's clock.

A password accepted for an account with a second factor starts a *pending* session: it
names the account (``PENDING``) but signs no one in until ``/login/code`` accepts a code.
A staff session ends after ``STAFF_IDLE_MINUTES`` without a request and
``STAFF_MAX_SESSION_HOURS`` after sign-in, whichever comes first (OWASP's Session
Management Cheat Sheet: idle and absolute timeouts, shorter for high-value accounts).
"""

from __future__ import annotations

import hashlib
import time

from flask import Flask, current_app, redirect, session, url_for
from flask_login import current_user, login_user, logout_user

from app import audit
from app.db import transaction
from app.i18n import SESSION_KEY, known
from app.models import AuditAction, User

PENDING = "pending_second_factor"
PENDING_NEXT = "pending_next"
PENDING_SECONDS = 300
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
STAFF_CLOCK = "staff_clock"


def home_url(user: User) -> str:
    """Where a user starts: staff on the invoice list, patients on their consultations."""
    return url_for("invoices.list_invoices") if user.is_staff else url_for("checkout.index")


def password_accepted(user: User, target: str | None):
    """The next step after a right password: the code page, or signed in."""
    chosen = known(session.get(SESSION_KEY))
    # A new session on login: nothing from before carries over but the chosen language.
    session.clear()
    if chosen:
        session[SESSION_KEY] = chosen
    if user.has_two_factor:
        session[PENDING] = [user.session_token, int(time.time())]
        session[PENDING_NEXT] = target
        return redirect(url_for("auth.second_factor"))
    return complete(user, target)


def complete(user: User, target: str | None):
    """Sign ``user`` in (the account keeps the language chosen before, if it has none),
    with its audit row in the same transaction."""
    chosen = known(session.get(SESSION_KEY))
    with transaction() as db_session:
        if chosen and user.locale is None:
            user.locale = chosen
        audit.record(AuditAction.SIGN_IN, actor=user, session=db_session)
    login_user(user)
    if user.is_staff:
        start_staff_clock()
    return redirect(target or home_url(user))


def password_refused(user: User | None, email: str) -> None:
    """Record a failed sign-in: the account when it exists, else a hash of what was typed
    (an unknown address may be a patient's typo: not stored in clear)."""
    label = None if user else "email:" + hashlib.sha256(email.encode()).hexdigest()[:16]
    with transaction() as db_session:
        audit.record(
            AuditAction.SIGN_IN_FAILED, actor=user or label, session=db_session, step="password"
        )


def pending_user(load) -> User | None:
    """The account a pending session names, if it is still fresh and the account unchanged
    (``load``: the session-token loader)."""
    pending = session.get(PENDING)
    if not isinstance(pending, list) or len(pending) != 2:
        return None
    token, started = pending
    if not isinstance(started, int) or time.time() - started > PENDING_SECONDS:
        return None
    return load(token) if isinstance(token, str) else None


def start_staff_clock() -> None:
    now = int(time.time())
    session[STAFF_CLOCK] = True
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


def end_expired_staff_session() -> None:
    """Before each request: end this browser's staff session once it is idle too long or
    too old, from the session cookie alone (no database read); else note the activity."""
    if not session.get(STAFF_CLOCK):
        return
    now = time.time()
    config = current_app.config
    idle = now - session.get(SEEN_AT, 0) > config["STAFF_IDLE_MINUTES"] * 60
    old = now - session.get(SIGNED_IN_AT, 0) > config["STAFF_MAX_SESSION_HOURS"] * 3600
    if idle or old:
        logout_user()
        session.clear()
        return
    session[SEEN_AT] = int(now)


def ensure_staff_clock() -> None:
    """A staff session that began without the clock (a session made before this rule)
    starts it now, so it too ends after the idle and absolute limits."""
    if current_user.is_authenticated and current_user.is_staff and not session.get(STAFF_CLOCK):
        start_staff_clock()


def init_app(app: Flask) -> None:
    app.before_request(end_expired_staff_session)
