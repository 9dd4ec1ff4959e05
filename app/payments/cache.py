"""The Redis copy of a finished idempotency key's answer: an accelerator, never the guarantee.

A repeat of a finished create is answered from here before the database is touched (the
``hybrid`` guard's ``use_cache``). Every call goes through ``app.redis_client.call``: bounded
by ``REDIS_TIMEOUT`` and swallowed on failure, since the database alone keeps a payment
exactly-once.
"""

from __future__ import annotations

from flask import current_app, g

from app import redis_client
from app.payments.idempotency import Outcome


def _cache_key(user_id: int, key_hash: str) -> str:
    # v3: one entry is ``Outcome.cache_text`` (app/payments/idempotency.py). The prefix is
    # spelled again in app/auth/token_cache.py's script arguments.
    return f"idem:v3:{user_id}:{key_hash}"


def get_response(user_id: int, key_hash: str) -> tuple[Outcome, str, bool] | None:
    """The cached answer of a finished key as ``(outcome, fingerprint, replay_counted)``,
    or None (a miss, an unreadable entry, or Redis trouble). Read already in this request
    by ``token_cache.token_and_response``: not read again."""
    prefetched = g.get("idempotency_prefetch")
    if prefetched is not None and prefetched[0] == (user_id, key_hash):
        raw = prefetched[1]
    else:
        raw = redis_client.call("cache read", lambda r: r.get(_cache_key(user_id, key_hash)))
    return None if raw is None else Outcome.from_cache_text(raw)


def put_response(user_id: int, key_hash: str, text: str) -> None:
    """Cache ``text`` (``Outcome.cache_text``) for as long as the key is honoured."""
    ttl = current_app.config["IDEMPOTENCY_TTL"]
    redis_client.call("cache write", lambda r: r.set(_cache_key(user_id, key_hash), text, ex=ttl))
