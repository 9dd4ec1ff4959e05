"""The second-factor pages: the code asked at sign-in, and enrolment (QR code, recovery
codes shown once). Thin: the rules are in ``two_factor`` and ``sign_in``."""

from __future__ import annotations

from flask import flash, render_template, session
from flask_babel import gettext
from flask_login import current_user, login_required

from app.auth import bp, sign_in, two_factor
from app.auth.forms import CodeForm
from app.auth.routes import load_user
from app.auth.two_factor import Verdict
from app.htmx import unauthorized

SETUP_SECRET = "totp_setup"


@bp.route("/login/code", methods=["GET", "POST"])
def second_factor():
    """Step two of signing in to an account with a second factor.

    :raise 422: a wrong code (shown in the page).  :raise 429: too many wrong codes for
        this account; it refuses codes for ``OTP_LOCKOUT_MINUTES``.
    """
    user = sign_in.pending_user(load_user)
    if user is None:
        session.pop(sign_in.PENDING, None)
        return unauthorized()
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/second_factor.html", form=form), 422 if form.errors else 200
    verdict = two_factor.check(user.id, form.code.data)
    if verdict == Verdict.ACCEPTED:
        target = session.pop(sign_in.PENDING_NEXT, None)
        session.pop(sign_in.PENDING, None)
        return sign_in.complete(user, target)
    if verdict == Verdict.LOCKED:
        flash(gettext("Too many wrong codes. Try again in a few minutes."), "error")
        return render_template("auth/second_factor.html", form=CodeForm(formdata=None)), 429
    flash(gettext("That code is not right. Try the newest code from your app."), "error")
    return render_template("auth/second_factor.html", form=CodeForm(formdata=None)), 422


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Turn on the second factor: scan the QR code, then type the app's code; the recovery
    codes are shown once, on this answer only.

    :raise 422: a wrong code (shown in the page; the same secret stays on screen).
    """
    user = current_user._get_current_object()
    if user.has_two_factor:
        return render_template("auth/two_factor_on.html")
    secret = session.get(SETUP_SECRET)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = session[SETUP_SECRET] = two_factor.new_secret()
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        codes = two_factor.enrol(user.id, secret, form.code.data)
        if codes is not None:
            session.pop(SETUP_SECRET, None)
            return render_template("auth/recovery_codes.html", codes=codes)
        flash(gettext("That code is not right. Try the newest code from your app."), "error")
        status = 422
    elif form.errors:
        status = 422
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        secret=secret,
        qr=two_factor.qr_data_uri(user, secret),
    ), status
