"""problem+json responses (RFC 9457): the API's one place that picks HTTP codes."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from app.payments.errors import PaymentError

PROBLEM_TYPE = "application/problem+json"


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    mimetype = PROBLEM_TYPE if status >= 400 else "application/json"
    response = Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        mimetype=mimetype,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_response(body, status, headers)


def from_error(error: PaymentError) -> Response:
    body = error.problem()
    headers = {}
    retry_after = body.get("retry_after") or error.retry_after
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return json_response(body, error.status, headers)
