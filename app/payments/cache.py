"""The Redis copy of a finished idempotency key's answer: an accelerator, never the guarantee.

A repeat of a finished create is answered from here before the database is touched (the
``hybrid`` guard's ``use_cache``). Every call goes through ``app.redis_client.call``: bounded
by ``REDIS_TIMEOUT`` and swallowed on failure, since the database alone keeps a payment
exactly-once.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app import redis_client
from app.payments.idempotency import Outcome


def answer_key(user_id: int | str, key_hash: str) -> str:
    """The Redis key of the copy of a user's idempotency key's answer; its value is an
    ``Outcome.cache_text`` (app/payments/idempotency.py). The only place the name is built:
    the token script (``app.auth.token_cache.token_and_response``) fills in the user id it
    reads."""
    return f"idem:v3:{user_id}:{key_hash}"


@dataclass(frozen=True)
class PrefetchedAnswer:
    """The Redis copy of ``user_id``'s answer for ``key_hash``, read ahead in another round
    trip (``token_and_response``); ``raw`` is None when Redis held none."""

    user_id: int
    key_hash: str
    raw: bytes | None


def get_response(
    user_id: int, key_hash: str, prefetched: PrefetchedAnswer | None = None
) -> tuple[Outcome, str, bool] | None:
    """The cached answer of a finished key as ``(outcome, fingerprint, replay_counted)``,
    or None (a miss, an unreadable entry, or Redis trouble). ``prefetched``, when it is this
    user's copy of this key, is used instead of reading Redis again."""
    if prefetched is not None and (prefetched.user_id, prefetched.key_hash) == (user_id, key_hash):
        raw = prefetched.raw
    else:
        raw = redis_client.call("cache read", lambda r: r.get(answer_key(user_id, key_hash)))
    return None if raw is None else Outcome.from_cache_text(raw)


def put_response(user_id: int, key_hash: str, text: str) -> None:
    """Cache ``text`` (``Outcome.cache_text``) for as long as the key is honoured."""
    ttl = current_app.config["IDEMPOTENCY_TTL"]
    redis_client.call("cache write", lambda r: r.set(answer_key(user_id, key_hash), text, ex=ttl))
