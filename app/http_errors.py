"""App-wide HTTP errors: problem+json under /api/ and /webhooks/, a readable page elsewhere.

Statuses and words come from ``app.problem_types`` (the registry the API and the problem
pages read). Never a bare 500.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from collections.abc import Mapping

from flask import Flask, current_app, g, render_template, request
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from app.api.problems import http_problem, problem
from app.extensions import limiter
from app.htmx import current_page, is_htmx, login_url, redirect_to
from app.i18n import translated
from app.payments import dberrors
from app.problem_types import HTTP_ERRORS, PROBLEM_TYPES

log = logging.getLogger("app.http_errors")
_APP_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/webhooks/")


def _render(
    status: int,
    slug: str | None,
    *,
    name: str = "",
    description: str = "",
    headers: Mapping[str, str] | None = None,
):
    """problem+json or the error page for the registered problem ``slug`` (its words from
    ``app.problem_types``); without one, ``about:blank`` titled ``name`` saying
    ``description``. ``headers`` (``Allow``, ``Retry-After``) go on either answer."""
    kind = PROBLEM_TYPES[slug] if slug else None
    detail = kind.page_message if kind else description
    headers = dict(headers or {})
    if _wants_json():
        retry_after = headers.get("Retry-After")
        extra = {"retry_after": int(retry_after)} if retry_after else {}
        if kind:
            response = problem(kind.slug, detail, **extra)
        else:
            response = http_problem(status, name, detail, **extra)
        response.headers.extend(headers)
        return response
    title = (kind.page_title or kind.title) if kind else name
    # htmx swaps an error answer into its target (base.html): a message, not a second page.
    template = "_htmx_error.html" if is_htmx() else "error.html"
    body = render_template(
        template,
        status=status,
        title=translated(title),
        detail=translated(detail),
        reload_url=current_page() or "/",
        wait=_wait_in_words(headers.get("Retry-After")),
    )
    return body, status, headers


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        if is_htmx() and not current_user.is_authenticated:
            # The session is gone with its token: logging in again (a whole page) is the way on.
            return redirect_to(login_url())
        return _render(400, "page-expired")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        cause = getattr(error, "original_exception", None)
        if status == 500 and dberrors.no_writable_primary(cause):
            # Raised while another error was being answered (a refusal page that reads the
            # database): the database is what failed, so the answer is still a 503.
            return database_unavailable(cause)
        # The exception's own headers: a 405's Allow (RFC 9110, section 15.5.6), a 401's
        # WWW-Authenticate. Its Content-Type is for werkzeug's own body, not ours.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        if status == 429:
            headers["Retry-After"] = str(seconds_until_the_limit_resets())
        slug = HTTP_ERRORS.get(status)
        return _render(
            status, slug, name=error.name, description=error.description, headers=headers
        )

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        if isinstance(error, OperationalError) or dberrors.no_writable_primary(error):
            return database_unavailable(error)
        return unexpected(error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        if isinstance(error, DBAPIError):
            # The driver's message may quote the offending value (a patient's email, a key):
            # log where it happened and its SQLSTATE, not what the value was.
            log.error(
                "unhandled database error on %s %s: %s sqlstate=%s at %s",
                request.method,
                request.path,
                type(error.orig).__name__,
                getattr(error.orig, "sqlstate", None),
                _app_frame(error),
            )
        else:
            log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, "internal-server-error")


# Seconds a client waits before retrying while no writable primary answers: a failover
# measured in docs/operations.md ("Database failover") takes about this long.
DATABASE_RETRY_AFTER = 2
# Where a refusal must say the safe-retry words (nothing was charged, press Pay again).
PAY_ENDPOINTS = {"checkout.pay"}


def database_unavailable(error: DBAPIError):
    """503 with Retry-After: the database could not be reached, or could not take writes.

    The payment's transaction committed whole or not at all, so retrying with the same
    idempotency key (or the same checkout page) is safe; the checkout's Pay answer says so.
    """
    log.warning(
        "database unavailable on %s %s: %s sqlstate=%s",
        request.method,
        request.path,
        type(getattr(error, "orig", error)).__name__,
        dberrors.sqlstate(error),
    )
    # Reading current_user (the page's locale and header do) loads the user, or refreshes
    # the row a rollback expired, from the database: answer as to a visitor instead. The
    # session cookie is untouched, so the next page knows the user again.
    g._login_user = current_app.login_manager.anonymous_user()
    slug = "busy" if request.endpoint in PAY_ENDPOINTS else "service-unavailable"
    return _render(503, slug, headers={"Retry-After": str(DATABASE_RETRY_AFTER)})


def _wait_in_words(retry_after: str | None) -> str:
    """How long a limited person waits, as the page says it (``Retry-After``, seconds):
    "Try again in 42 seconds." up to two minutes, in minutes (rounded up) after that."""
    if not retry_after or not retry_after.isdigit():
        return ""
    seconds = int(retry_after)
    if seconds <= 120:
        return ngettext("Try again in %(num)d second.", "Try again in %(num)d seconds.", seconds)
    minutes = math.ceil(seconds / 60)
    return ngettext("Try again in %(num)d minute.", "Try again in %(num)d minutes.", minutes)


def seconds_until_the_limit_resets() -> int:
    """Retry-After for a 429: the time left in the current rate-limit window."""
    try:
        current = limiter.current_limit
        if current is not None:
            # reset_at is rounded up to a whole second: never promise more than one window.
            window = current.limit.get_expiry()
            return min(window, max(1, math.ceil(current.reset_at - time.time())))
    except Exception:  # storage trouble must not turn a 429 into a 500
        log.warning("rate limit window unknown; answering Retry-After 60")
    return 60


def _app_frame(error: Exception) -> str:
    """The innermost line of our own code the error passed through."""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(_APP_DIR)
    ]
    if not frames:
        return "-"
    frame = frames[-1]
    return f"app/{frame.filename[len(_APP_DIR) :]}:{frame.lineno} in {frame.name}"
