"""The seed's four solutions as one strategy each (``PAYMENT_GUARD``), chosen once per request.

Every guard keeps the durable idempotency claim and the partial unique index;
they differ only in ``serialize``: what makes two requests for one consultation
take turns before the index would have to.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.models import Consultation
from app.payments import cache, dberrors
from app.payments.errors import PaymentsBusy

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
    """A redis-py Lock per consultation, released after the commit (the seed's Solution 3).

    :raise PaymentsBusy: another request held it past ``PAYMENT_LOCK_TIMEOUT_MS``.
    """
    try:
        after_commit.enter_context(cache.consultation_lock(consultation_id))
    except cache.LockNotAcquired as exc:
        raise PaymentsBusy() from exc


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
# The names PAYMENT_GUARD accepts (app.config reads these; there is no other list).
GUARD_NAMES = tuple(name for name, guard in GUARDS.items() if not guard.benchmark_only)
BENCHMARK_ONLY_GUARDS = tuple(name for name, guard in GUARDS.items() if guard.benchmark_only)


def current_guard() -> Guard:
    return GUARDS[current_app.config["PAYMENT_GUARD"]]
