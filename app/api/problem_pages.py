"""``/problems/<slug>``: each problem ``type`` the API sends resolves to a short page.

HTML for a person, JSON for a client (by ``Accept``), from ``PROBLEM_TYPES``:
what happened, whether retrying can help, and what to do.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from app.api.problems import json_response
from app.problem_types import PROBLEM_TYPES

bp = Blueprint("problems", __name__)

_JSON = ("application/json", "application/problem+json")


@bp.get("/problems/<slug>")
def problem_page(slug: str) -> Response:
    """The page of one problem type; 404 for a slug the API never sends."""
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        abort(404)
    if request.accept_mimetypes.best_match(["text/html", *_JSON]) in _JSON:
        response = json_response(
            {
                "type": kind.uri,
                "title": kind.title,
                "status": kind.status,
                "happened": kind.happened,
                "retry": kind.retry,
                "action": kind.action,
            },
            200,
        )
    else:
        response = Response(render_template("problem.html", kind=kind))
    response.vary.add("Accept")
    response.vary.add("Accept-Language")  # the page's footer is in the reader's language
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
