"""Deterministic races: pause a transition while it holds its locks, see who waits behind it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import create_engine, select, text

from app.config import normalize_database_url
from app.models import Payment
from app.payments import hooks

WAIT_SECONDS = 20.0


class PauseHolder:
    """At ``transition.after_lock``, the first transition pauses while it holds its locks.

    ``holding`` is set once it holds the consultation and payment locks; it goes on
    when ``release()`` is called. Later transitions are not paused.
    """

    def __init__(self, race) -> None:
        self.holding = threading.Event()
        self._release = threading.Event()
        self._taken = False
        self._mutex = threading.Lock()

        def pause(payment_id):
            with self._mutex:
                first, self._taken = not self._taken, True
            if first:
                self.holding.set()
                if not self._release.wait(WAIT_SECONDS):
                    raise TimeoutError("the test never released the paused transition")

        race.at(hooks.AFTER_TRANSITION_LOCK, pause)

    def wait_until_holding(self) -> None:
        assert self.holding.wait(WAIT_SECONDS), "the first transition never took its locks"

    def release(self) -> None:
        self._release.set()


def wait_for_lock_waiters(database_url: str, count: int = 1) -> None:
    """Block until ``count`` sessions of this database wait on a row lock.

    A condition, polled: the racing request has provably reached the lock.
    """
    engine = create_engine(normalize_database_url(database_url))
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        with engine.connect() as conn:
            while True:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
                conn.rollback()
                if waiting >= count:
                    return
                assert time.monotonic() < deadline, f"{count} lock waiter(s) never appeared"
                time.sleep(0.01)
    finally:
        engine.dispose()


class Background:
    """Run calls on their own threads (each with its own app context and session)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=4)

    def start(self, app, call, *args: Any, **kwargs: Any) -> Future:
        def run():
            with app.app_context():
                return call(*args, **kwargs)

        return self._pool.submit(run)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def read_payment_without_locking(barrier: threading.Barrier):
    """A stand-in for ``lifecycle.lock_payment`` that takes no lock and holds every caller at
    ``barrier`` until all have read the payment: the worst interleaving, made certain."""

    def read_without_locking(session, payment_id):
        payment = session.execute(
            select(Payment)
            .where(Payment.id == payment_id)
            .execution_options(populate_existing=True)
        ).scalar_one()
        barrier.wait()  # nobody writes until everybody has read it
        return payment

    return read_without_locking
