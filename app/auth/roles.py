"""Who may open which page: one ``@requires_role(...)`` on every staff route.

A route states the least role it needs (``Role.CASHIER`` or ``Role.MANAGER``); a manager
may do all a cashier may (``User.has_role``). The answer, in this order:

- not signed in: the login page (``?next=`` this page), as ``login_required`` does;
- signed in without the role: 403;
- a staff account without a second factor while ``STAFF_REQUIRE_2FA`` is on: the
  enrolment page (every staff page is unusable until it is done).

The declaration is kept on the view (``required_role``) so a test can check that every
staff route has one (tests/unit/test_roles.py reads the URL map).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, current_app, url_for
from flask_login import current_user

from app.auth.sign_in import ensure_staff_clock
from app.extensions import login_manager
from app.htmx import redirect_to
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
                abort(403)
            ensure_staff_clock()
            if needs_enrolment(current_user):
                return redirect_to(url_for("auth.two_factor_setup"))
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorate


def required_role(view: Callable) -> Role | None:
    """The role ``view`` declares with ``requires_role``, or None."""
    return getattr(view, "required_role", None)


def needs_enrolment(user) -> bool:
    """A staff account that must enrol a second factor before using staff pages."""
    return bool(
        user.is_staff and not user.has_two_factor and current_app.config["STAFF_REQUIRE_2FA"]
    )
