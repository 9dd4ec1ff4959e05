"""Raw PostgreSQL access for fault tests: hold locks, find waiting backends, kill them.

Everything polls ``pg_stat_activity`` with a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


def raw_connection(database_url: str) -> psycopg.Connection:
    """A plain psycopg connection; no server-side prepared statements, so PgBouncer's
    transaction pooling may sit in between."""
    return psycopg.connect(
        database_url.replace("postgresql+psycopg://", "postgresql://"), prepare_threshold=None
    )


def _admin(database_url: str) -> psycopg.Connection:
    conn = raw_connection(database_url)
    conn.autocommit = True
    return conn


def _poll(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_until_blocked_on_a_lock(database_url: str, timeout: float = 10) -> None:
    """Poll until some backend waits on a lock."""
    wait_for_lock_waiter(database_url, timeout=timeout)


def wait_for_lock_waiter(
    database_url: str, *, exclude: set[int] = frozenset(), timeout: float = 10
) -> int:
    """The pid of a backend of this database waiting on a lock (not one of ``exclude``)."""
    database = make_url(database_url).database
    with _admin(database_url) as conn:

        def waiting():
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (database,),
            ).fetchall()
            return next((pid for (pid,) in rows if pid not in exclude), None)

        return _poll("a backend waiting on a lock", waiting, timeout)


def terminate(database_url: str, pid: int) -> None:
    with _admin(database_url) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def wait_until_gone(database_url: str, pid: int, timeout: float = 10) -> None:
    with _admin(database_url) as conn:

        def gone():
            row = conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            return row is None

        _poll(f"backend {pid} to end", gone, timeout)


def client_port(database_url: str, pid: int) -> int:
    with _admin(database_url) as conn:
        return conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()[0]


def process_owning_port(local_port: int, candidates: list[int]) -> int:
    """Which of ``candidates`` holds the TCP socket bound to ``local_port`` (via /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(fields[9])
    for pid in candidates:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    raise AssertionError(f"none of {candidates} owns a socket on port {local_port}")


def hold_claim(conn, user_id: int, key: str) -> None:
    """Claim ``key`` for ``user_id`` in ``conn``'s open transaction, as a request in flight would."""
    from datetime import timedelta

    from app.models import utcnow
    from app.payments.idempotency import hash_key

    now = utcnow()
    conn.execute(
        "INSERT INTO idempotency_keys (user_id, key_hash, fingerprint, state, created_at,"
        " expires_at) VALUES (%s, %s, 'x', 'processing', %s, %s)",
        (user_id, hash_key(key), now, now + timedelta(hours=1)),
    )
