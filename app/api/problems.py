"""problem+json responses (RFC 9457): the API's one place that picks HTTP codes.

Every status, ``type`` and ``title`` comes from ``app.problem_types`` (the one table the
HTML pages and the problem pages read too): ``problem()`` takes a registered slug, so a
type cannot ship without its page at ``/problems/<slug>``.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from app.i18n import translated
from app.payments.errors import PaymentError, most_specific
from app.payments.idempotency import encode_body
from app.problem_types import ERRORS, HTTP_ERRORS, PROBLEM_TYPES

PROBLEM_TYPE = "application/problem+json"
ABOUT_BLANK = "about:blank"


def type_uri(slug: str) -> str:
    """The ``type`` of a registered problem; KeyError for a slug without a page."""
    return PROBLEM_TYPES[slug].uri


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    mimetype = PROBLEM_TYPE if status >= 400 else "application/json"
    response = Response(encode_body(body), status=status, mimetype=mimetype)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem(slug: str, detail: str, **extra: Any) -> Response:
    """problem+json of the registered problem ``slug`` (KeyError for another): its status and
    English title from the registry (clients match on them, with ``type``); ``detail`` is for
    a person and follows the request's Accept-Language (app.i18n)."""
    kind = PROBLEM_TYPES[slug]
    body = {"type": kind.uri, "title": kind.title, "status": kind.status}
    return _problem_response({**body, "detail": translated(detail)}, extra)


def http_problem(status: int, name: str, detail: str, **extra: Any) -> Response:
    """An app-wide HTTP error: its registered problem by status (``HTTP_ERRORS``), else
    ``about:blank`` titled with the status text ``name``."""
    if status in HTTP_ERRORS:
        return problem(HTTP_ERRORS[status], detail, **extra)
    body = {"type": ABOUT_BLANK, "title": name, "status": status, "detail": translated(detail)}
    return _problem_response(body, extra)


def _problem_response(body: dict[str, Any], extra: dict[str, Any]) -> Response:
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_response(body, body["status"], headers)


def from_error(error: PaymentError) -> Response:
    """The error as problem+json, its problem from ``ERRORS``, with ``Retry-After`` if any."""
    return problem(most_specific(ERRORS, error), error.detail, **error.extra)
