"""API bearer tokens: random, shown once, stored as a SHA-256 (they are high-entropy)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from app.extensions import db
from app.models import User

TOKEN_PREFIX = "cck_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(user: User) -> str:
    """Give ``user`` a new token, replacing the old one. The caller commits."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user.api_token_hash = hash_token(token)
    return token


def user_for_token(token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    return db.session.execute(
        select(User).where(User.api_token_hash == hash_token(token))
    ).scalar_one_or_none()
