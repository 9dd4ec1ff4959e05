"""What a benchmark run is made of: its profile, each measured run, and the whole bench.

Shared by ``bench.run`` (which measures) and ``bench.report`` (which summarizes), so
neither imports the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import load
from bench.stack import Stack

# Before a server has been measured, assume this many creates per second when sizing
# a run's range of fresh consultations (wrk reports it if a range ever runs out).
DEFAULT_RPS = 1500
# A scenario not yet measured borrows the estimate of its closest relative.
ESTIMATE_FROM = {"hybrid_html": "hybrid"}
# A run's range of fresh consultations is this many times its expected requests: a warm-up
# on a busy machine can measure a third of what the next run does, and a run that wraps
# around repeats keys (replays, counted as errors).
BUDGET_FACTOR = 3


@dataclass(frozen=True)
class Profile:
    mode: str
    seconds: float  # one throughput run
    rounds: int  # throughput scenarios are interleaved, round by round
    warmup_seconds: float
    connections: int
    storms: int  # consultations stormed per guarded strategy
    unguarded_storms: int  # the unguarded baseline only illustrates; fewer suffice
    growth_levels: tuple[int, ...]
    growth_seconds: float
    growth_rounds: int
    isolation_seconds: float
    isolation_rounds: int
    # Patients of each growth database before its history (whose payments they own); more
    # are added after the history when the plan needs them (bench/plan.py).
    growth_patients: int
    storm_size: int = 200


PROFILES = {
    "quick": Profile(
        "quick",
        seconds=3,
        rounds=1,
        warmup_seconds=1,
        connections=8,
        storms=1,
        unguarded_storms=1,
        growth_levels=(0, 20_000),
        growth_seconds=3,
        growth_rounds=1,
        isolation_seconds=4,
        isolation_rounds=1,
        growth_patients=10_000,
    ),
    "full": Profile(
        "full",
        # Many short interleaved rounds rather than a few long ones: on a machine shared
        # with other work the load changes by the minute, and a median of paired ratios
        # taken seconds apart is what survives that.
        seconds=3,
        rounds=10,
        warmup_seconds=2,
        connections=8,
        storms=20,
        unguarded_storms=5,
        growth_levels=(0, 100_000, 1_000_000),
        growth_seconds=3,
        growth_rounds=8,
        isolation_seconds=6,
        isolation_rounds=4,
        growth_patients=50_000,
    ),
}


class PoolExhausted(RuntimeError):
    """A phase asked for more fresh consultations than the plan reserved for it."""


class Pool:
    """Hands out ranges of fresh consultation ids, never the same one twice.

    Consultation ``i`` belongs to patient ``i`` (bench/seed.py), so a range of ids is a range
    of patients with their tokens. ``reserve`` makes sure ``n`` ids are seeded ahead, calling
    ``refill(count) -> first id`` to seed ``count`` more (ids ``first .. first + count - 1``,
    the next free ones of the pool's database; a range that does not continue the current
    one replaces its remainder). ``take`` never seeds: a phase takes only what the plan
    reserved before it (bench/plan.py), so no seeding happens while a run is measured.
    """

    def __init__(
        self,
        name: str,
        last: int,
        refill: Callable[[int], int] | None = None,
        *,
        first: int = 1,
        min_refill: int = 10_000,
    ) -> None:
        self.name = name
        self.next = first
        self.last = last
        self.refill = refill
        self.min_refill = min_refill
        self.seeded = last - first + 1
        self.refills = 0

    @property
    def available(self) -> int:
        return self.last - self.next + 1

    def reserve(self, n: int) -> None:
        """Seed ahead until ``n`` consecutive fresh ids are available.

        :raise PoolExhausted: the pool has no ``refill`` and fewer than ``n`` ids left.
        """
        while self.available < n:
            if self.refill is None:
                raise PoolExhausted(
                    f"pool {self.name}: {n:,} fresh consultations needed, "
                    f"{self.available:,} left, and it cannot be refilled"
                )
            count = max(n - self.available, self.min_refill)
            first = self.refill(count)
            if first == self.last + 1:
                self.last += count
            else:
                self.next, self.last = first, first + count - 1
            self.seeded += count
            self.refills += 1

    def take(self, n: int) -> tuple[int, int]:
        """The next ``n`` fresh ids as ``(first, n)``.

        :raise PoolExhausted: fewer than ``n`` reserved: the plan under-counted a phase.
        """
        first = self.next
        if n > self.available:
            raise PoolExhausted(
                f"pool {self.name}: {n:,} fresh consultations asked, {self.available:,} "
                "reserved: bench/plan.py does not count what this phase takes"
            )
        self.next += n
        return first, n


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Run:
    """One measured run of one scenario (one round)."""

    result: load.WrkResult
    ok: tuple[int, ...]
    first: int = 0
    count: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    payments: int | None = None
    # A create answered as a replay created nothing: an error, except in the replay scenario.
    replays_are_errors: bool = True

    def errors(self) -> int:
        replays = self.result.replayed if self.replays_are_errors else 0
        return self.result.errors(self.ok) + replays


@dataclass
class Bench:
    profile: Profile
    stack: Stack
    # "main" (bench_main: creates, replays, storms, isolation), "noindex" (bench_noindex's
    # storms) and "growth_<level>" (each growth database).
    pools: dict[str, Pool]
    estimates: dict[str, float] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pool(self) -> Pool:
        """The main database's pool (bench_main)."""
        return self.pools["main"]

    def budget(self, name: str, seconds: float) -> int:
        rps = self.estimates.get(name) or self.estimates.get(ESTIMATE_FROM.get(name, ""))
        rps = rps or DEFAULT_RPS
        return int(max(rps, 100) * BUDGET_FACTOR * seconds) + 200

    def record(self, name: str, run: Run) -> None:
        self.runs.setdefault(name, []).append(run)
        r = run.result
        log(
            f"{name:<18} {r.rps:7.1f} req/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  "
            f"cpu {r.cpu_ms_per_request() or 0:5.2f} ms/req  "
            f"statuses {r.statuses}  dup {run.duplicates.get('consultations', '-')}"
        )


def target(
    name: str,
    value: float | None,
    op: str,
    bound: float,
    *,
    basis: str,
    also: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One row of the report's target table (bench/report.py ``targets``).

    ``value`` is the figure the target is judged on, measured as ``basis`` says ("server
    CPU/request", "req/s", "ms", "count", ...); ``also`` is the same comparison by the other
    measure (req/s where the target is judged on CPU), shown for reference; ``op`` is ">=" or
    "<=" (or "==" for an exact count). A missing value (the scenario did not run) leaves ``met`` None ("n/a").
    """
    checks = {
        ">=": lambda: value >= bound,
        "<=": lambda: value <= bound,
        "==": lambda: value == bound,
    }
    met = None if value is None else checks[op]()
    return {
        "target": name,
        "value": value,
        "basis": basis,
        "also": also,
        "bound": f"{op} {bound}",
        "met": met,
        "note": note,
    }
