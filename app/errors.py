"""App-wide error pages: problem+json under /api/, a readable page elsewhere. Never a bare 500."""

from __future__ import annotations

import logging
import math
import os
import time
import traceback

from flask import Flask, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from app.api.problems import http_problem
from app.extensions import limiter
from app.htmx import current_page, is_htmx, login_url, redirect_to
from app.i18n import N_, translated

log = logging.getLogger("app.errors")
_APP_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# English msgids: the API's problem detail and the page's text, each in the request's
# language when shown (app.i18n.translated).
MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please log in."),
    403: N_("You are not allowed to do that."),
    404: N_("We could not find that page."),
    405: N_("That action is not allowed here."),
    413: N_("The request is too large."),
    415: N_("Unsupported content type."),
    429: N_("Too many requests. Please wait a moment and try again."),
    500: N_("Something went wrong on our side. Nothing was charged; please try again."),
    503: N_("We are busy right now. Please try again in a moment."),
}
# A page's heading, for a person. The API keeps the HTTP status text as its stable title.
PAGE_TITLES = {
    400: N_("Something is wrong with this request"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed here"),
    413: N_("Too large"),
    415: N_("Unsupported content type"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
    503: N_("Busy right now"),
}
PAGE_EXPIRED_TITLE = N_("Page expired")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/webhooks/")


def _render(status: int, title: str, detail: str, retry_after: str | None = None):
    """problem+json (English title, translated detail) or the error page, all translated."""
    if _wants_json():
        extra = {"retry_after": int(retry_after)} if retry_after else {}
        return http_problem(status, title, detail, **extra)
    if title != PAGE_EXPIRED_TITLE:
        title = PAGE_TITLES.get(status, title)
    # htmx swaps an error answer into its target (base.html): a message, not a second page.
    template = "_htmx_error.html" if is_htmx() else "error.html"
    response = render_template(
        template,
        status=status,
        title=translated(title),
        detail=translated(detail),
        reload_url=current_page() or "/",
    )
    headers = {"Retry-After": retry_after} if retry_after else {}
    return response, status, headers


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        if is_htmx() and not current_user.is_authenticated:
            # The session is gone with its token: logging in again (a whole page) is the way on.
            return redirect_to(login_url())
        return _render(
            400,
            PAGE_EXPIRED_TITLE,
            N_("This page has expired or was opened elsewhere. Reload the page and try again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        retry_after = None
        if status == 429:
            retry_after = str(seconds_until_the_limit_resets())
        return _render(status, error.name, MESSAGES.get(status, error.description), retry_after)

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.path,
            type(getattr(error, "orig", error)).__name__,
        )
        return _render(503, "Service Unavailable", MESSAGES[503], "2")

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
        return _render(500, "Internal Server Error", MESSAGES[500])


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
