"""Which user a session cookie names, without reading the users table on a cheap path.

A session cookie names the user's session token (``User.get_id``), not the user id. The
checkout's repeated-submit path (``app/checkout/routes.py``) asks ``session_user_id`` and
answers from Redis alone when it can. The token's user id is cached like an API token's
(``token_cache.remember_token``, ``API_TOKEN_CACHE_TTL`` seconds, keyed by a SHA-256), and the
rule is the same: a rotated session token (logout, a password change, by any code path
that assigns ``User.session_token``) is tombstoned in Redis as soon as the rotation
commits, so a logged-out cookie stops working from the cache at once.
"""

from __future__ import annotations

import logging

from flask import g, has_app_context, session
from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from app.auth import token_cache
from app.auth.tokens import hash_token
from app.extensions import db
from app.models import User

log = logging.getLogger("app.auth")

_ENDED = "ended_session_tokens"


def _cache_key(session_token: str) -> str:
    # Its own namespace: a session token's hash is never an API token's.
    return hash_token("session:" + session_token)


def session_user_id() -> int | None:
    """The id of the user this request's session cookie names, or None (anonymous, a
    malformed or ended session). Redis first, else one indexed read (then cached);
    memoized for the request."""
    if "session_user_id" not in g:
        g.session_user_id = _lookup(session.get("_user_id"))
    return g.session_user_id


def _lookup(session_token: object) -> int | None:
    if not isinstance(session_token, str) or not session_token or len(session_token) > 64:
        return None
    key = _cache_key(session_token)
    cached = token_cache.token_user(key)
    if cached is False:
        return None
    if cached is not None:
        return cached
    # The same rule as Flask-Login's user loader (``app.auth.routes.load_user``).
    user_id = db.session.scalar(
        select(User.id).where(User.session_token == session_token, User.active.is_(True))
    )
    if user_id is not None:
        token_cache.remember_token(key, user_id)
    return user_id


def _note_ended_session(user: User, value: str, old: object, initiator) -> None:
    if old in (NO_VALUE, NEVER_SET, None) or old == value:
        return
    owner = object_session(user)
    if owner is not None:
        owner.info.setdefault(_ENDED, set()).add(old)


def _revoke_ended_sessions(owner: Session) -> None:
    ended = owner.info.pop(_ENDED, ())
    if not ended or not has_app_context():
        return
    for token in ended:
        if not token_cache.revoke_token(_cache_key(token)):
            log.warning(
                "session.revoke_failed: an ended session may replay cached checkout answers "
                "for up to API_TOKEN_CACHE_TTL seconds"
            )


def _forget_ended_sessions(owner: Session) -> None:
    owner.info.pop(_ENDED, None)


_LISTENERS = (
    (User.session_token, "set", _note_ended_session),
    (Session, "after_commit", _revoke_ended_sessions),
    (Session, "after_rollback", _forget_ended_sessions),
)


def listen_for_ended_sessions() -> None:
    """Tombstone a rotated session token's cache entry once its rotation commits (every
    SQLAlchemy session of the process; installed once however many apps are created)."""
    for target, name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
