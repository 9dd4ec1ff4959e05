"""Every API response any test receives is checked against the OpenAPI document.

``CheckedClient`` is every app's test client (tests/conftest.py sets it on Flask):
after each request to a path and method the document describes, ``openapi-core``
validates the response's status, headers and body against it. A response the
document does not allow fails the test that received it. Paths the document does
not describe (pages, a method it does not list) pass through unchecked.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from functools import cache

from flask_login import FlaskLoginClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

from app.api.openapi import document

DESCRIBED = ("/api/", "/webhooks/")
CHECKED: Counter[str] = Counter()
_lock = threading.Lock()


@cache
def spec() -> OpenAPI:
    # openapi-core reads application/json itself; problem+json is JSON too (RFC 9457).
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(document(), config=config)


class _RequestWithoutBody(WerkzeugOpenAPIRequest):
    """Finds the operation; the body was the app's to read, and only the answer is checked."""

    @property
    def body(self) -> bytes | None:
        return None


def check_response(response) -> None:
    """Raise if the document does not allow ``response`` (a Werkzeug TestResponse)."""
    request = _RequestWithoutBody(response.request)
    errors = list(spec().iter_response_errors(request, WerkzeugOpenAPIResponse(response)))
    if any(isinstance(e, PathNotFound | OperationNotFound) for e in errors):
        return
    if errors:
        details = "; ".join(f"{e!r} <- {e.__cause__!r}" for e in errors)
        raise AssertionError(
            f"{response.request.method} {response.request.path} -> {response.status}: "
            f"not what the OpenAPI document allows: {details}\n"
            f"{response.get_data(as_text=True)[:500]}"
        )
    with _lock:
        CHECKED[f"{response.request.method} {response.status_code}"] += 1


class CheckedClient(FlaskLoginClient):
    """A test client (with Flask-Login's ``user=``) that checks API answers on the way back."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.request.path.startswith(DESCRIBED):
            check_response(response)
        return response
