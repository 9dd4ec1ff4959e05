"""Redis: a response cache and an optional lock. An accelerator, never the guarantee.

Every call here is bounded by ``REDIS_TIMEOUT`` and every failure is swallowed
with a warning: the database alone keeps a payment exactly-once. After a
failure Redis is skipped for a short while, so a dead or paused server costs
one timeout per process, not one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from flask import Flask, current_app

from app import metrics
from app.payments.idempotency import Outcome

log = logging.getLogger("app.payments.redis")

SKIP_SECONDS_AFTER_FAILURE = 2.0


def init_redis(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    timeout = app.config["REDIS_TIMEOUT"]
    if url:
        from app.redis_urls import make_client

        client = make_client(url, timeout)
    else:
        import fakeredis

        client = fakeredis.FakeRedis()
        log.warning(
            "REDIS_URL is unset: using an in-process Redis stand-in; its state is per process"
        )
    app.extensions["redis"] = client
    app.extensions["redis_health"] = RedisHealth()


class RedisHealth:
    """Remembers a recent failure so the next requests skip Redis instead of waiting."""

    def __init__(self) -> None:
        self.skip_until = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self.skip_until

    def failed(self, what: str, exc: Exception) -> None:
        self.skip_until = time.monotonic() + SKIP_SECONDS_AFTER_FAILURE
        metrics.redis_failure(what)
        log.warning(
            "redis unavailable during %s: %s; continuing without it",
            what,
            type(exc).__name__,
            extra={"event": "redis_unavailable"},
        )


def client() -> redis.Redis:
    return current_app.extensions["redis"]


def _health() -> RedisHealth:
    return current_app.extensions["redis_health"]


def answer_key(user_id: int | str, key_hash: str) -> str:
    """The Redis key of the copy of a user's idempotency key's answer; its value is an
    ``Outcome.cache_text`` (app/payments/idempotency.py). The only place the name is built:
    the token script (``token_and_response``) fills in the user id it reads."""
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
        raw = _call("cache read", lambda r: r.get(answer_key(user_id, key_hash)))
    return None if raw is None else Outcome.from_cache_text(raw)


def put_response(user_id: int, key_hash: str, text: str) -> None:
    """Cache ``text`` (``Outcome.cache_text``) for as long as the key is honoured."""
    ttl = current_app.config["IDEMPOTENCY_TTL"]
    _call("cache write", lambda r: r.set(answer_key(user_id, key_hash), text, ex=ttl))


# API tokens: the user id a token hash belongs to, for API_TOKEN_CACHE_TTL seconds. A
# rotated token's hash is overwritten with this tombstone (``revoke_token``), so a request
# that read the old token from the database a moment before cannot cache it again.
_REVOKED = b"revoked"


def _token_key(token_hash: str) -> str:
    return f"token:v1:{token_hash}"


def token_user(token_hash: str) -> int | bool | None:
    """The cached user id of a token hash; False if the token was revoked; None if unknown."""
    raw = _call("token read", lambda r: r.get(_token_key(token_hash)))
    if raw is None:
        return None
    if raw == _REVOKED:
        return False
    try:
        return int(raw)
    except ValueError:
        return None


# The token's user id and, in the same round trip, that user's cached answer for a key:
# its name is ``answer_key`` split where the user id goes (ARGV[1] .. uid .. ARGV[3]).
_TOKEN_AND_RESPONSE = """
local uid = redis.call('GET', KEYS[1])
if (not uid) or uid == ARGV[2] then return {uid} end
return {uid, redis.call('GET', ARGV[1] .. uid .. ARGV[3])}
"""
_USER_SLOT = "\x00user\x00"


def token_and_response(
    token_hash: str, key_hash: str
) -> tuple[int | bool | None, PrefetchedAnswer | None]:
    """``token_user``, and the cached answer of ``key_hash`` for that user read in the same
    round trip (one Lua script): a replay of a create then costs one Redis call in all.
    The answer (``PrefetchedAnswer``) is for the caller to hand to ``get_response``."""
    before, after = answer_key(_USER_SLOT, key_hash).split(_USER_SLOT)

    def run(r: redis.Redis):
        script = current_app.extensions.get("redis_token_and_response")
        if script is None:
            script = current_app.extensions["redis_token_and_response"] = r.register_script(
                _TOKEN_AND_RESPONSE
            )
        return script(keys=[_token_key(token_hash)], args=[before, _REVOKED, after])

    found = _call("token and cache read", run)
    if not found or found[0] is None:
        return None, None
    if found[0] == _REVOKED:
        return False, None
    try:
        user_id = int(found[0])
    except ValueError:
        return None, None
    return user_id, PrefetchedAnswer(user_id, key_hash, found[1] if len(found) > 1 else None)


def remember_token(token_hash: str, user_id: int) -> None:
    """Cache a token hash read from the database (never over a tombstone: ``nx``)."""
    ttl = current_app.config["API_TOKEN_CACHE_TTL"]
    if ttl > 0:
        _call("token write", lambda r: r.set(_token_key(token_hash), user_id, ex=ttl, nx=True))


def revoke_token(token_hash: str) -> bool:
    """Make a replaced token unusable from the cache at once; False if Redis could not be
    reached (the entry then lives at most API_TOKEN_CACHE_TTL seconds)."""
    ttl = max(current_app.config["API_TOKEN_CACHE_TTL"], 1)
    # Not skipped after a recent failure: revocation is worth one more try.
    try:
        client().set(_token_key(token_hash), _REVOKED, ex=ttl)
    except redis.RedisError as exc:
        _health().failed("token revoke", exc)
        return False
    return True


def _call(what: str, command):
    """Run ``command(client)``; None when Redis is skipped or fails (and skip it a while)."""
    health = _health()
    if not health.available():
        return None
    try:
        return command(client())
    except redis.RedisError as exc:
        health.failed(what, exc)
        return None


class LockNotAcquired(Exception):
    pass


@contextmanager
def consultation_lock(consultation_id: int) -> Iterator[bool]:
    """The seed's Solution 3, done with redis-py's own ``Lock``.

    Its release is a token-checked Lua script, so an expired lock is never
    deleted out from under its new owner. Yields True when held, False when
    Redis is unreachable (the database guards alone then). Raises
    ``LockNotAcquired`` when another request holds it past the wait bound.
    """
    health = _health()
    if not health.available():
        yield False
        return
    cfg = current_app.config
    lock = client().lock(
        f"lock:v1:consultation:{consultation_id}",
        timeout=cfg["REDIS_LOCK_TIMEOUT"],
        blocking_timeout=cfg["PAYMENT_LOCK_TIMEOUT_MS"] / 1000,
        sleep=0.005,
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        health.failed("lock acquire", exc)
        yield False
        return
    if not acquired:
        raise LockNotAcquired(consultation_id)
    try:
        yield True
    finally:
        try:
            lock.release()
        except (redis.RedisError, redis.exceptions.LockError) as exc:
            # Expired or Redis gone: the database already decided; nothing to undo.
            log.warning("redis lock release failed: %s", type(exc).__name__)
