"""Bearer-token authentication for the JSON API (session cookies are not accepted)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from app.api.keys import MalformedKeyHeader, header_key
from app.api.problems import problem
from app.auth.tokens import user_for_token
from app.extensions import db
from app.i18n import N_
from app.models import Role, User
from app.payments.cache import PrefetchedAnswer
from app.payments.guards import current_guard
from app.payments.idempotency import hash_key


def token_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        found = (
            user_for_token(token.strip(), _replay_key_hash())
            if scheme.lower() == "bearer"
            else None
        )
        if found is None:
            response = problem(
                "unauthorized",
                N_("Send a valid API token as 'Authorization: Bearer <token>'."),
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        g.api_user_id, g.api_user, g.api_prefetched_answer = found
        return view(*args, **kwargs)

    return wrapper


def token_role(role: Role) -> Callable[[Callable], Callable]:
    """After ``token_required``: only a token of ``role`` (or a higher staff role) gets
    through; the API's ``@requires_role`` (app/auth/roles.py), kept on ``required_role``.

    :raise 403: problem+json ``forbidden``.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not api_user().has_role(role):
                return problem("forbidden", N_("Your role may not do this."))
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _replay_key_hash() -> str | None:
    """The hash of a create's Idempotency-Key, when a cached answer may be read with the
    token (the guard caches answers); None otherwise, or if the header is not one key (the
    route then says why)."""
    if request.method != "POST" or not current_guard().use_cache:
        return None
    try:
        key = header_key(request.headers)
        return hash_key(key) if key is not None else None
    except (MalformedKeyHeader, UnicodeEncodeError):
        return None


def api_user_id() -> int:
    """The authenticated user's id: known without reading the user's row."""
    return g.api_user_id


def api_prefetched_answer() -> PrefetchedAnswer | None:
    """The Redis copy of this create's key answer, read with the token; None if not read."""
    return g.api_prefetched_answer


def api_user() -> User:
    """The authenticated user (read on first use when the token came from the cache).

    A user deleted since the token was cached reads as None here; every view that calls
    this runs after ``token_required``, within API_TOKEN_CACHE_TTL of the token's check.
    """
    if g.api_user is None:
        g.api_user = db.session.get(User, g.api_user_id)
    return g.api_user
