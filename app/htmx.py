"""How any page answers a request htmx made, when it cannot give the fragment htmx asked for.

htmx follows a plain 302 inside its XHR and swaps whatever page it lands on into the
target (a login page with a second site header inside the results table). So, app-wide:

- not logged in (Flask-Login's ``unauthorized``): ``401`` with ``HX-Redirect`` to the
  login page, whose ``next`` is the page the person was on (``HX-Current-URL``); htmx
  turns that into a whole-page navigation. A plain request still gets the 302.
- refused (403, an expired CSRF token, any error page): a small message that htmx swaps
  in place (``templates/_htmx_error.html``), never a whole page (``app/http_errors.py``).

htmx sends ``HX-Request: true`` on every request it makes (https://htmx.org/reference/#request_headers).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Response, flash, redirect, request, url_for
from flask_babel import gettext

from app.extensions import login_manager


def is_htmx() -> bool:
    """The request was made by htmx."""
    return request.headers.get("HX-Request") == "true"


def current_page() -> str | None:
    """The path and query of the page the person is on, for ``next=``; None when unknown.

    For htmx, the page in the address bar (``HX-Current-URL``), not the fragment's URL;
    for a plain GET, the URL itself. Only this site's own paths (no open redirect).
    """
    if is_htmx():
        target = request.headers.get("HX-Current-URL", "")
    elif request.method == "GET":
        target = request.full_path
    else:
        target = request.referrer or ""
    parts = urlsplit(target)
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if path.startswith("/") and not path.startswith("//") else None


def login_url() -> str:
    """The login page, with ``next`` set to the current page when there is one."""
    page = current_page()
    login = url_for("auth.login")
    # Fully encoded (next=%2Fstaff%2Finvoices%3Fstatus%3Dpaid), as Flask-Login's own did.
    return f"{login}?{urlencode({'next': page})}" if page else login


def redirect_to(url: str) -> Response:
    """A whole-page navigation: ``HX-Redirect`` (status 401) for htmx, a 302 otherwise."""
    if not is_htmx():
        return redirect(url)
    response = Response("", 401)
    response.headers["HX-Redirect"] = url
    response.vary.add("HX-Request")
    return response


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    """Every ``login_required`` (and the staff pages' own check) ends here when logged out.

    "Please log in to continue." (translated) is flashed either way: after an ``HX-Redirect`` the login
    page shows it too (a session that ended in another tab, tests/browser/test_sessions_browser.py).
    """
    # In the reader's language: a flash is stored as text, so it is translated here.
    flash(gettext(login_manager.login_message), login_manager.login_message_category)
    return redirect_to(login_url())
