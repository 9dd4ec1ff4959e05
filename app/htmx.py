"""How any page answers a request htmx made, when it cannot give the fragment htmx asked for.

htmx follows a plain 302 inside its XHR and swaps whatever page it lands on into the
target (a login page with a second site header inside the results table). So, app-wide:

- not logged in (Flask-Login's ``unauthorized``): ``401`` with ``HX-Redirect`` to the
  login page, whose ``next`` is the page the person was on (``HX-Current-URL``); htmx
  turns that into a whole-page navigation. A plain request still gets the 302.
- refused (403, an expired CSRF token, any error page): a small message that htmx swaps
  in place (``templates/_htmx_error.html``), never a whole page (``app/http_errors.py``).

Where a page may send the browser back to (``next=``, the language switch) is checked once,
by ``same_site_path``.

htmx sends ``HX-Request: true`` on every request it makes (https://htmx.org/reference/#request_headers).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, redirect, request, url_for

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
    return same_site_path(target, request.host)


def same_site_path(target: str | None, host: str | None = None) -> str | None:
    """``target`` as a path and query on this site (``/payments/3?x=1``), else None: where a
    ``next=`` may send the browser without making this site an open redirect.

    A full URL counts only when its host is ``host`` (the request's own). Browsers read
    ``\\`` as ``/``, so ``/\\evil.example`` is another site; so is ``//evil.example``.
    """
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc) and (host is None or parts.netloc != host):
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


def init_app(app: Flask) -> None:
    """Make ``unauthorized`` Flask-Login's answer for a logged-out visitor."""
    login_manager.unauthorized_handler(unauthorized)


def unauthorized() -> Response:
    """Every ``login_required`` (and the staff pages' own check) ends here when logged out.

    The login page it leads to (``?next=``) says "Please log in to continue." itself, after a
    redirect or an ``HX-Redirect`` alike (tests/browser/test_sessions_browser.py): nothing is
    flashed, so a visitor's redirect sets no session cookie.
    """
    return redirect_to(login_url())
