"""The seed's four solutions as switches on one code path (``PAYMENT_GUARD``).

Every guard keeps the durable idempotency claim and the partial unique index;
they differ in what serializes two requests for one consultation before the
index would have to.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class Guard:
    name: str
    # Claim (user, key) in idempotency_keys and replay finished keys.
    use_key: bool = True
    # Replay finished keys from Redis before touching the database.
    use_cache: bool = False
    # SELECT ... FOR UPDATE on the consultation (BEGIN IMMEDIATE covers SQLite).
    row_lock: bool = False
    # A redis-py Lock per consultation around the transaction (the seed's Solution 3).
    redis_lock: bool = False
    # Look for an active payment before inserting.
    check_active: bool = True
    # Not for use: config allows it only with ALLOW_UNGUARDED_BENCHMARK=1.
    benchmark_only: bool = False


GUARDS = {
    "hybrid": Guard("hybrid", use_cache=True, row_lock=True),
    "pessimistic": Guard("pessimistic", row_lock=True),
    # No lock: insert, and let the unique index turn the loser into a 409.
    "optimistic": Guard("optimistic"),
    "redis_lock": Guard("redis_lock", redis_lock=True),
    # Benchmark baseline only (config refuses it without ALLOW_UNGUARDED_BENCHMARK=1).
    "unguarded": Guard("unguarded", use_key=False, check_active=False, benchmark_only=True),
}
# The names PAYMENT_GUARD accepts (app.config reads these; there is no other list).
GUARD_NAMES = tuple(name for name, guard in GUARDS.items() if not guard.benchmark_only)
BENCHMARK_ONLY_GUARDS = tuple(name for name, guard in GUARDS.items() if guard.benchmark_only)


def current_guard() -> Guard:
    return GUARDS[current_app.config["PAYMENT_GUARD"]]
