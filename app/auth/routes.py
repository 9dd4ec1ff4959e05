"""Login, logout and the language switch for the HTML pages (the API uses bearer tokens)."""

from __future__ import annotations

import hashlib

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash

from app.auth import bp, sign_in
from app.auth.forms import LoginForm
from app.auth.sign_in import home_url
from app.db import transaction
from app.extensions import csrf, db, limiter
from app.htmx import same_site_path
from app.i18n import SESSION_KEY, known
from app.models import User
from app.security import same_origin_only

# Checked when the email is unknown, so both failures take the same time.
_DUMMY_HASH = (
    "scrypt:32768:8:1$9AtEuOkOt2S2AWJ9$2f9b19dc45ef4e6377b53a98c21712ce1df2a20deb67b4cad4fe45"
    "ac13096b2ea0d36ddd0f3a5e5bf022454f35b14ba431a68e6c3e10ee2af35bfd650c8f74e6"
)


def load_user(session_token: str) -> User | None:
    """The user whose current session token the cookie names; None (anonymous) once that
    token was rotated by a logout or a password change, in this browser or another, or
    once the account was disabled."""
    if not session_token or len(session_token) > 64:
        return None
    return db.session.execute(
        select(User).where(User.session_token == session_token, User.active.is_(True))
    ).scalar_one_or_none()


# Flask-Login's unauthorized handler (a login-only page, logged out) is app/htmx.py's:
# one answer for every page and every htmx request.


def _login_limit_per_account() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _login_limit_per_address() -> str:
    # Loose: a clinic's front desk signs several people in from one address.
    return current_app.config["RATELIMIT_LOGIN_ADDRESS"]


def _per_account() -> str:
    """The per-account bucket: guessing one person's password from many addresses still
    fills it. Hashed: the key is stored in Redis and printed in the limiter's log line.

    Never raises: Flask-Limiter takes an exception from a key function for a storage
    failure (swallowed, the check skipped, its counts moved to memory). A body it cannot
    read (over ``MAX_CONTENT_LENGTH``, a broken form) counts in the bucket of no email,
    and the view then answers its 413 or 400.
    """
    try:
        email = (request.form.get("email") or "").strip().lower()
    except HTTPException:
        email = ""
    return "login:" + hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit_per_address, methods=["POST"])
@limiter.limit(_login_limit_per_account, methods=["POST"], key_func=_per_account)
@csrf.exempt
@same_origin_only
def login():
    """Show the login form; on success start a fresh session and go on."""
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
        elif check_password_hash(user.password_hash, form.password.data) and user.is_active:
            return sign_in.password_accepted(user, same_site_path(request.args.get("next")))
        sign_in.password_refused(user, email)
        flash(gettext("Wrong email or password."), "error")
    # A form that does not validate is bad input: 422, with the field errors on the page.
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST with CSRF, so a link elsewhere cannot log a patient out), here and in
    every other browser: the session token is rotated, so copies of the cookie stop working."""
    with transaction():
        current_user.end_all_sessions()
    logout_user()
    session.clear()
    # In the language of the page being left: the session (and its choice) is gone.
    flash(gettext("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
@csrf.exempt
@same_origin_only
def choose_language():
    """The footer's switch (a plain form; no JavaScript): save the choice on the signed-in
    user, else in the session, and go back to the page it was sent from.

    Cross-site posts are refused by their Fetch Metadata; a signed-in user's form also
    carries the session's CSRF token (a visitor has no session to bind one to).

    :raise 400: a locale we do not have, or a signed-in user's missing CSRF token (nothing
        is saved).
    :raise 403: sent from another site.
    """
    if current_user.is_authenticated and current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()
    locale = known(request.form.get("locale"))
    if locale is None:
        abort(400)
    if current_user.is_authenticated:
        with transaction():
            current_user.locale = locale
    session[SESSION_KEY] = locale
    return redirect(same_site_path(request.form.get("next")) or "/", 303)
