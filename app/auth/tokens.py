"""API bearer tokens: random, shown once, stored as a SHA-256 (they are high-entropy)."""

from __future__ import annotations

import hashlib
import logging
import secrets

from sqlalchemy import select

from app.auth import token_cache
from app.db import transaction
from app.extensions import db
from app.models import User
from app.payments.cache import PrefetchedAnswer

log = logging.getLogger("app.auth")

TOKEN_PREFIX = "cck_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(user: User) -> str:
    """Give a new ``user`` its first token. The caller commits (``rotate_token`` replaces one)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user.api_token_hash = hash_token(token)
    return token


def rotate_token(user: User) -> str:
    """Give ``user`` a new token, replacing the old one: commits, then revokes the old token's
    cached entry in the same call, so the old token stops working at once, cache or not."""
    old_hash = user.api_token_hash
    with transaction():
        token = issue_token(user)
    if old_hash and not token_cache.revoke_token(old_hash):
        log.warning(
            "token.revoke_failed: the old token may work for up to API_TOKEN_CACHE_TTL seconds"
        )
    return token


def user_for_token(
    token: str, key_hash: str | None = None
) -> tuple[int, User | None, PrefetchedAnswer | None] | None:
    """``(user id, user, prefetched)`` for a valid token, else None. From Redis (``user``
    None: not read) within API_TOKEN_CACHE_TTL of the token's last database read, otherwise
    from the database (one read, then cached). With ``key_hash`` (an idempotency key's),
    that user's cached answer is fetched in the same Redis round trip
    (``token_cache.token_and_response``) and returned as ``prefetched`` for ``create_payment``."""
    if not token or len(token) > 200:
        return None
    token_hash = hash_token(token)
    prefetched = None
    if key_hash is None:
        cached = token_cache.token_user(token_hash)
    else:
        cached, prefetched = token_cache.token_and_response(token_hash, key_hash)
    if cached is False:
        return None
    if cached is not None:
        return cached, None, prefetched
    user = db.session.execute(
        select(User).where(User.api_token_hash == token_hash)
    ).scalar_one_or_none()
    if user is None:
        return None
    token_cache.remember_token(token_hash, user.id)
    return user.id, user, None
