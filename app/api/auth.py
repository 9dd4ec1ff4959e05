"""Bearer-token authentication for the JSON API (session cookies are not accepted)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from app.api.problems import problem
from app.auth.tokens import user_for_token
from app.i18n import N_
from app.models import User


def token_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            response = problem(
                401,
                "Authentication required",
                N_("Send a valid API token as 'Authorization: Bearer <token>'."),
                "unauthorized",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def api_user() -> User:
    return g.api_user
