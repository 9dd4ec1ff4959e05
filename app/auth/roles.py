"""Who may open which page: one ``@requires_role(...)`` on every staff route.

A route states the least role it needs (``Role.CASHIER`` or ``Role.MANAGER``); a manager
may do all a cashier may (``User.has_role``). The answer, in this order:

- not signed in: the login page (``?next=`` this page), as ``login_required`` does;
- signed in without the role: 403, a page that says whose work it is (``refused``);
- a staff account without a second factor while ``STAFF_REQUIRE_2FA`` is on: the
  enrolment page (every staff page is unusable until it is done).

The declaration is kept on the view (``required_role``) so a test can check that every
staff route has one (tests/unit/test_roles.py reads the URL map), and so a page offers
only what its reader may do: templates ask ``allowed("invoices.confirm_refund")``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, current_app, render_template, url_for
from flask_login import current_user

from app.auth.sign_in import ensure_staff_clock
from app.extensions import login_manager
from app.htmx import redirect_to
from app.i18n import N_
from app.models import Role


def requires_role(role: Role) -> Callable[[Callable], Callable]:
    """Decorate a page's view so only ``role`` (or a higher staff role) reaches it.

    :raise 403: signed in without the role.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(role):
                return refused(role)
            ensure_staff_clock()
            if needs_enrolment(current_user):
                return redirect_to(url_for("auth.two_factor_setup"))
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorate


def refused(role: Role):
    """The 403 page for a signed-in user without ``role``: whose work it is and who they
    are, not a bare refusal (a cashier who follows an old link or a shared address
    to a manager's form learns to ask a manager)."""
    if role != Role.MANAGER or not current_user.is_staff:
        abort(403)
    detail = N_(
        "You are signed in as a cashier. Refunds, deletions, discount cards, closing the "
        "day, staff accounts and the audit trail are a manager's: ask a manager to do this."
    )
    title = N_("Only a manager can do this")
    return render_template("error.html", title=title, detail=detail), 403


def allowed(endpoint: str) -> bool:
    """Whether the signed-in user may use ``endpoint`` (its ``requires_role``); an endpoint
    that declares no role is allowed to anyone signed in."""
    view = current_app.view_functions.get(endpoint)
    role = required_role(view) if view is not None else None
    if not current_user.is_authenticated:
        return False
    return role is None or current_user.has_role(role)


def required_role(view: Callable) -> Role | None:
    """The role ``view`` declares with ``requires_role``, or None."""
    return getattr(view, "required_role", None)


def needs_enrolment(user) -> bool:
    """A staff account that must enrol a second factor before using staff pages."""
    return bool(
        user.is_staff and not user.has_two_factor and current_app.config["STAFF_REQUIRE_2FA"]
    )
