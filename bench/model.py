"""What a benchmark run is made of: its profile, each measured run, and the whole bench.

Shared by ``bench.run`` (which measures) and ``bench.report`` (which summarizes), so
neither imports the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench import load
from bench.stack import Stack

# Before a server has been measured, assume this many creates per second when sizing
# a run's range of fresh consultations (wrk reports it if a range ever runs out).
DEFAULT_RPS = 1500
# A scenario not yet measured borrows the estimate of its closest relative.
ESTIMATE_FROM = {"hybrid_html": "hybrid"}


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
    patients: int  # users = consultations in the main database
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
        patients=60_000,
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
        patients=500_000,
        growth_patients=50_000,
    ),
}


class Pool:
    """Hands out ranges of fresh consultation ids, never the same one twice."""

    def __init__(self, last: int) -> None:
        self.next = 1
        self.last = last

    def take(self, n: int) -> tuple[int, int]:
        first = self.next
        if first + n - 1 > self.last:
            raise RuntimeError(
                f"out of fresh consultations ({self.last} seeded): raise the profile's patients"
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
    pool: Pool
    estimates: dict[str, float] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def budget(self, name: str, seconds: float) -> int:
        rps = self.estimates.get(name) or self.estimates.get(ESTIMATE_FROM.get(name, ""))
        rps = rps or DEFAULT_RPS
        # 3x the estimate: a warm-up on a busy machine can measure a third of what the next
        # run does, and a run that wraps around repeats keys (replays, counted as errors).
        return int(max(rps, 100) * 3 * seconds) + 200

    def record(self, name: str, run: Run) -> None:
        self.runs.setdefault(name, []).append(run)
        r = run.result
        log(
            f"{name:<18} {r.rps:7.1f} req/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  "
            f"cpu {r.cpu_ms_per_request() or 0:5.2f} ms/req  "
            f"statuses {r.statuses}  dup {run.duplicates.get('consultations', '-')}"
        )
