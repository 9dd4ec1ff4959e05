"""A manager's pages: staff accounts and the audit trail. Thin: parse, call, render."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app import audit
from app.auth.roles import requires_role
from app.extensions import db
from app.i18n import translated
from app.models import AuditAction, Role, User
from app.staff import accounts, audit_log, bp
from app.staff.audit_log import InvalidAuditFilter
from app.staff.forms import DisableForm, ResetTwoFactorForm, StaffAccountForm


@bp.after_request
def private(response: Response) -> Response:
    # Names, addresses and who saw whom: no shared or back-button cache may keep them.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


@bp.route("/accounts", methods=["GET", "POST"])
@requires_role(Role.MANAGER)
def staff_accounts():
    """Every staff account, and a form to create one.

    :raise 422: a field is missing or wrong, or the email is taken (shown in the page).
    """
    form = StaffAccountForm()
    status = 200
    if form.validate_on_submit():
        try:
            accounts.create_staff(
                form.email.data, form.name.data, form.role.data, form.password.data, _me()
            )
        except accounts.AccountRefused as refusal:
            flash(translated(str(refusal)), "error")
            status = 422
        else:
            flash(_created_words(), "info")
            return redirect(url_for("staff.staff_accounts"), 303)
    elif form.errors:
        status = 422
    return render_template(
        "staff/accounts.html",
        form=form,
        disable_form=DisableForm(),
        accounts=accounts.staff_accounts(),
    ), status


def _created_words() -> str:
    """What the new account's first sign-in will ask, as the server is set up
    (``STAFF_REQUIRE_2FA``): a promise of two-factor sign-in only where it is enforced."""
    if current_app.config["STAFF_REQUIRE_2FA"]:
        return gettext(
            "Account created. At their first sign-in they must set up two-factor sign-in "
            "before any staff page opens."
        )
    return gettext(
        "Account created. This server does not require two-factor sign-in: they can sign "
        "in with the password alone. Ask them to set it up under Two-factor sign-in."
    )


@bp.post("/accounts/<int:user_id>/disable")
@requires_role(Role.MANAGER)
def disable_account(user_id: int):
    """Disable a staff account: it is signed out everywhere and cannot sign in again.

    :raise 404: no staff account has this id.  :raise 409: your own account.
    """
    if not DisableForm().validate_on_submit():
        abort(400)
    try:
        done = accounts.disable(user_id, _me())
    except accounts.AccountRefused as refusal:
        flash(translated(str(refusal)), "error")
        return redirect(url_for("staff.staff_accounts"), 303)
    if done is None:
        abort(404)
    flash(gettext("Account disabled."), "info")
    return redirect(url_for("staff.staff_accounts"), 303)


@bp.get("/accounts/<int:user_id>/reset-2fa")
@requires_role(Role.MANAGER)
def confirm_two_factor_reset(user_id: int):
    """Ask first: whose second factor is forgotten, and what follows.

    :raise 404: no staff account has this id.
    """
    account = db.session.get(User, user_id)
    if account is None or not account.is_staff:
        abort(404)
    return render_template(
        "staff/reset_two_factor.html", account=account, form=ResetTwoFactorForm()
    )


@bp.post("/accounts/<int:user_id>/reset-2fa")
@requires_role(Role.MANAGER)
def reset_two_factor(user_id: int):
    """Forget a staff account's second factor (a lost phone); ``accounts.reset_two_factor``.

    :raise 400: no valid CSRF token.  :raise 404: no staff account has this id.
    """
    if not ResetTwoFactorForm().validate_on_submit():
        abort(400)
    done = accounts.reset_two_factor(user_id, _me())
    if done is None:
        abort(404)
    if current_app.config["STAFF_REQUIRE_2FA"]:
        said = gettext(
            "Two-factor sign-in reset for %(name)s: they are signed out and enrol again "
            "at their next sign-in.",
            name=done.name,
        )
    else:
        said = gettext(
            "Two-factor sign-in reset for %(name)s: they are signed out. This server does "
            "not require two-factor sign-in, so they can sign in with their password alone "
            "until they set it up again.",
            name=done.name,
        )
    flash(said, "info")
    return redirect(url_for("staff.staff_accounts"), 303)


@bp.get("/audit")
@requires_role(Role.MANAGER)
def audit_trail():
    """The audit trail, newest first, 100 a page, filtered by action, account, patient and
    clinic dates.

    :raise 400: a filter value that is not one (shown in the page).
    """
    number = request.args.get("page", "1")
    number = int(number) if number.isascii() and number.isdigit() and 0 < int(number) < 10**6 else 1
    try:
        audit_filter = audit_log.parse_filter(request.args)
    except InvalidAuditFilter as invalid:
        return _audit_page(errors=invalid.errors, status=400)
    rows, more = audit_log.page(audit_filter, number)
    return _audit_page(rows=rows, more=more, number=number, audit_filter=audit_filter)


def _audit_page(*, status: int = 200, errors: dict | None = None, **context):
    return render_template(
        "staff/audit.html",
        actions=audit_log.ACTIONS,
        action_word=audit_log.action_word,
        actor_word=audit_log.actor_word,
        values=request.args,
        query_args={k: v for k, v in request.args.items() if k != "page" and v},
        errors=errors or {},
        **context,
    ), status


@bp.get("/audit/patients/<int:patient_id>.csv")
@requires_role(Role.MANAGER)
def patient_audit_csv(patient_id: int):
    """Who saw or changed one patient's data, as CSV: for a patient who asks the clinic.
    The download itself is audited.

    :raise 404: no account has this id.
    """
    if db.session.get(User, patient_id) is None:
        abort(404)
    audit.viewed(AuditAction.AUDIT_EXPORTED, patient_id=patient_id)
    return Response(
        audit_log.patient_csv(patient_id),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-patient-{patient_id}.csv"'},
    )


def _me():
    return current_user._get_current_object()
