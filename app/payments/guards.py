"""The ways to make concurrent checkouts of one consultation take turns (``PAYMENT_GUARD``).

Every guard keeps the durable idempotency claim and the partial unique index;
they differ only in ``serialize``: what makes two requests for one consultation
take turns before the index would have to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import redis
from flask import Flask, current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import redis_client
from app.config import ConfigError
from app.models import Consultation
from app.payments import dberrors
from app.payments.errors import PaymentsBusy

log = logging.getLogger("app.payments.guards")

# Built once (SQLAlchemy memoizes a statement's cache key on the object).
# A Core statement on the table, run on the session's connection: nothing is loaded.
_CONSULTATIONS = Consultation.__table__
_LOCK_CONSULTATION = (
    select(_CONSULTATIONS.c.id)
    .where(_CONSULTATIONS.c.id == bindparam("consultation_id"))
    .with_for_update()
)


def _no_lock(session: Session, consultation_id: int, after_commit: ExitStack) -> None:
    """Optimistic: insert, and let the unique index turn a lost race into a 409."""


def _row_lock(session: Session, consultation_id: int, after_commit: ExitStack) -> None:
    """``SELECT ... FOR UPDATE`` on the consultation (BEGIN IMMEDIATE covers SQLite).

    :raise PaymentsBusy: the lock was not granted within ``lock_timeout``.
    """
    try:
        session.connection().execute(_LOCK_CONSULTATION, {"consultation_id": consultation_id})
    except OperationalError as exc:
        if dberrors.is_lock_timeout(exc):
            raise PaymentsBusy() from exc
        raise


def _redis_lock(session: Session, consultation_id: int, after_commit: ExitStack) -> None:
    """A redis-py Lock per consultation, released after the commit.

    :raise PaymentsBusy: another request held it past ``PAYMENT_LOCK_TIMEOUT_MS``.
    """
    try:
        after_commit.enter_context(consultation_lock(consultation_id))
    except LockNotAcquired as exc:
        raise PaymentsBusy() from exc


class LockNotAcquired(Exception):
    """Another request held the consultation's Redis lock past the wait bound."""


@contextmanager
def consultation_lock(consultation_id: int) -> Iterator[bool]:
    """The ``redis_lock`` guard's lock, redis-py's own ``Lock``.

    Its release is a token-checked Lua script, so an expired lock is never
    deleted out from under its new owner. Yields True when held, False when
    Redis is unreachable (the database guards alone then). Raises
    ``LockNotAcquired`` when another request holds it past the wait bound.
    """
    health = redis_client.health()
    if not health.available():
        yield False
        return
    cfg = current_app.config
    lock = redis_client.client().lock(
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


@dataclass(frozen=True)
class Guard:
    name: str
    # Make concurrent checkouts of one consultation take turns: (session, consultation id,
    # an ExitStack closed after the commit) -> None.
    serialize: object = _no_lock
    # Claim (user, key) in idempotency_keys and replay finished keys.
    use_key: bool = True
    # Replay finished keys from Redis before touching the database.
    use_cache: bool = False
    # Look for an active payment before inserting.
    check_active: bool = True
    # Not for use: config allows it only with ALLOW_UNGUARDED_BENCHMARK=1.
    benchmark_only: bool = False


GUARDS = {
    "hybrid": Guard("hybrid", _row_lock, use_cache=True),
    "pessimistic": Guard("pessimistic", _row_lock),
    "optimistic": Guard("optimistic", _no_lock),
    "redis_lock": Guard("redis_lock", _redis_lock),
    # Benchmark baseline only (config refuses it without ALLOW_UNGUARDED_BENCHMARK=1).
    "unguarded": Guard("unguarded", use_key=False, check_active=False, benchmark_only=True),
}
# The names PAYMENT_GUARD accepts (there is no other list).
GUARD_NAMES = tuple(name for name, guard in GUARDS.items() if not guard.benchmark_only)
BENCHMARK_ONLY_GUARDS = tuple(name for name, guard in GUARDS.items() if guard.benchmark_only)


def init_app(app: Flask) -> None:
    """Check ``PAYMENT_GUARD`` once, when the app is created.

    :raise ConfigError: not one of ``GUARD_NAMES``; or a benchmark-only guard without
        ``ALLOW_UNGUARDED_BENCHMARK``.
    """
    name = app.config["PAYMENT_GUARD"]
    allowed = GUARD_NAMES + (
        BENCHMARK_ONLY_GUARDS if app.config["ALLOW_UNGUARDED_BENCHMARK"] else ()
    )
    if name not in allowed:
        raise ConfigError(f"PAYMENT_GUARD must be one of {', '.join(GUARD_NAMES)}; got {name!r}")


def current_guard() -> Guard:
    return GUARDS[current_app.config["PAYMENT_GUARD"]]
