"""Redis: a response cache and an optional lock. An accelerator, never the guarantee.

Every call here is bounded by ``REDIS_TIMEOUT`` and every failure is swallowed
with a warning: the database alone keeps a payment exactly-once. After a
failure Redis is skipped for a short while, so a dead or paused server costs
one timeout per process, not one per request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from flask import Flask, current_app

from app import metrics

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


def _cache_key(user_id: int, key_hash: str) -> str:
    return f"idem:v2:{user_id}:{key_hash}"


def get_response(user_id: int, key_hash: str) -> dict[str, Any] | None:
    """The cached final response of a finished key, or None (miss or Redis trouble)."""
    health = _health()
    if not health.available():
        return None
    try:
        raw = client().get(_cache_key(user_id, key_hash))
    except redis.RedisError as exc:
        health.failed("cache read", exc)
        return None
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def put_response(user_id: int, key_hash: str, entry: dict[str, Any]) -> None:
    health = _health()
    if not health.available():
        return
    try:
        client().set(
            _cache_key(user_id, key_hash),
            json.dumps(entry, separators=(",", ":")),
            ex=current_app.config["IDEMPOTENCY_TTL"],
        )
    except redis.RedisError as exc:
        health.failed("cache write", exc)


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
