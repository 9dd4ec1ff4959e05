"""How many fresh consultations a run needs, seeded ahead from measured throughput.

Every create takes a consultation nobody paid for yet (a repeat would be a replay or a
409, not a create), so a run consumes consultations at the rate it creates payments: a
faster server needs more of them. The plan counts what each phase takes, from the
scenarios' measured requests per second (``Bench.estimates``, each run's range being
``BUDGET_FACTOR`` times its expected requests), and seeds the difference with SQL
``generate_series`` (``seed.add_patients``) at checkpoints between measured runs: after
the warm-up (the whole run as then measured), at the start of each throughput round and
before the storms, isolation and growth phases (topping up when a round measured faster
than the last). A phase then only takes what was reserved (``Pool.take``), so no seeding
happens while a run is measured.

Before anything is seeded, and again at each checkpoint, the plan is checked against what
a refill can give: the disk under PostgreSQL's data directory, and ids within PostgreSQL's
``integer``. A run that cannot be satisfied stops there with ``PlanError``, not minutes later.
"""

from __future__ import annotations

import math

from bench.model import BUDGET_FACTOR, DEFAULT_RPS, Bench, Profile

GUARDED = ("hybrid", "pessimistic", "optimistic", "redis_lock")
# Every create scenario of a throughput round, in the order run.py runs them.
CREATE_SCENARIOS = ("unguarded", *GUARDED, "floor")
# The servers the warm-up drives with creates (the noindex server is never warmed).
WARMED = ("unguarded", *GUARDED, "floor")
REPLAY_SCENARIOS = 3  # replay, replay_db, floor_replay: one paid consultation each
PHASES = ("warm_up", "throughput", "storms", "isolation", "growth")

# Measured on this bench's PostgreSQL 15 (pg_database_size before and after seeding):
# a patient and its consultation with their indexes about 750 bytes; a past payment with
# its consultation, tax record, invoice, key and event about 1,600 bytes. A create made by
# the app writes the same rows plus its stored answer: counted at 2,500 bytes.
BYTES_PER_PATIENT = 750
BYTES_PER_HISTORY_PAYMENT = 1_600
BYTES_PER_CREATE = 2_500
# Write-ahead log (max_wal_size is 1 GB by default), logs and the servers' own files.
DISK_HEADROOM = 2 * 1024**3
MAX_ID = 2**31 - 1  # consultations.id and users.id are PostgreSQL integers


class PlanError(RuntimeError):
    """The run cannot be given the consultations it needs (disk, id range)."""


def max_bursts(bench: Bench, spread: bool) -> int:
    """Bursts one isolation run may send (bench/run.py stops there).

    Spread bursts create a payment per request, so they cannot outrun the server's create
    rate: at most ``BUDGET_FACTOR`` times the measured hybrid rate, in bursts. A storm on one
    consultation takes a single consultation per burst: a burst per millisecond bounds it.
    """
    p = bench.profile
    if not spread:
        return math.ceil(1000 * p.isolation_seconds)
    rps = bench.estimates.get("hybrid") or DEFAULT_RPS
    return math.ceil(BUDGET_FACTOR * rps * p.isolation_seconds / p.storm_size) + 1


def isolation_run(bench: Bench, mode: str) -> int:
    """Consultations one isolation run takes: its steady checkouts and its bursts."""
    p = bench.profile
    steady = bench.budget("hybrid", p.isolation_seconds)
    if mode == "isolation_none":
        return steady
    spread = mode == "isolation_spread"
    return steady + max_bursts(bench, spread) * (p.storm_size if spread else 1)


def throughput_round(bench: Bench) -> int:
    """Consultations one throughput round takes, from the estimates as they stand."""
    seconds = bench.profile.seconds
    creates = sum(bench.budget(name, seconds) for name in CREATE_SCENARIOS)
    return creates + bench.budget("hybrid_html", seconds)


def growth_level(bench: Bench) -> int:
    """Consultations each growth database's warm-up and rounds take."""
    p = bench.profile
    return bench.budget("hybrid", p.warmup_seconds) + p.growth_rounds * bench.budget(
        "hybrid", p.growth_seconds
    )


def remaining(bench: Bench, phase: str, round_no: int = 0) -> dict[str, int]:
    """Fresh consultations each pool must still give from ``phase`` (and, in the throughput
    phase, from round ``round_no``) to the end of the run, at the current estimates."""
    p = bench.profile
    start = PHASES.index(phase)
    main = 0
    if start <= PHASES.index("warm_up"):
        main += sum(bench.budget(name, p.warmup_seconds) for name in WARMED)
    if start <= PHASES.index("throughput"):
        if start < PHASES.index("throughput") or round_no == 0:
            main += REPLAY_SCENARIOS
        main += (p.rounds - round_no) * throughput_round(bench)
    if start <= PHASES.index("storms"):
        main += p.storms * len(GUARDED) + p.unguarded_storms
    if start <= PHASES.index("isolation"):
        modes = ("isolation_none", "isolation_storm", "isolation_spread")
        main += p.isolation_rounds * sum(isolation_run(bench, mode) for mode in modes)
    need = {"main": main}
    if start <= PHASES.index("storms"):
        need["noindex"] = p.unguarded_storms
    for level in p.growth_levels:
        need[f"growth_{level}"] = growth_level(bench)
    return need


def initial_patients(profile: Profile) -> int:
    """Patients seeded into the main database's template before anything is measured: the
    warm-up at the default estimate; the checkpoint after it seeds the rest as measured."""
    probe = Bench(profile, stack=None, pools={})  # type: ignore[arg-type]
    start = remaining(probe, "warm_up")
    return max(start["main"] - remaining(probe, "throughput")["main"], 0) + REPLAY_SCENARIOS


def disk_needed(seeded: int, creates: int, history: int = 0) -> int:
    """Bytes a run adds for ``seeded`` patients, ``creates`` payments made by the app and
    ``history`` past payments seeded for the growth scenario (without the headroom)."""
    return (
        seeded * BYTES_PER_PATIENT
        + creates * BYTES_PER_CREATE
        + history * BYTES_PER_HISTORY_PAYMENT
    )


def _check_disk(needed: int, free: int, what: str) -> None:
    if needed + DISK_HEADROOM > free:
        raise PlanError(
            f"{what} needs about {needed / 1024**3:.1f} GB on PostgreSQL's disk plus "
            f"{DISK_HEADROOM / 1024**3:.0f} GB of headroom, and {free / 1024**3:.1f} GB are "
            "free: free some space, or run `make bench-quick`"
        )


def start_bytes(profile: Profile) -> int:
    """Bytes the run adds to PostgreSQL's disk at the default estimate (``DEFAULT_RPS`` for
    every scenario), the first seeds and the growth histories included."""
    probe = Bench(profile, stack=None, pools={})  # type: ignore[arg-type]
    consultations = sum(remaining(probe, "warm_up").values())
    growth_seed = len(profile.growth_levels) * profile.growth_patients
    # The main template is copied twice (bench_main, bench_noindex); the growth template once
    # per level, each then given its history.
    first_seed = 3 * initial_patients(profile) + 2 * growth_seed
    return disk_needed(
        consultations + first_seed,
        consultations // BUDGET_FACTOR,
        history=sum(profile.growth_levels),
    )


def check_start(profile: Profile, free_bytes: int) -> int:
    """Before anything starts: can this disk hold the run at the default estimate? Returns
    the patients to seed into the main template (``initial_patients``).

    :raise PlanError: it cannot (the message says how much is missing).
    """
    what = f"`{profile.mode}` mode at {DEFAULT_RPS:,} req/s a scenario"
    _check_disk(start_bytes(profile), free_bytes, what)
    return initial_patients(profile)


def checkpoint(bench: Bench, phase: str, round_no: int = 0) -> None:
    """Seed ahead what the rest of the run needs from ``phase`` on, at the current estimates.

    :raise PlanError: the refill would not fit on the disk or in PostgreSQL's integer ids;
        nothing is seeded then.
    """
    need = remaining(bench, phase, round_no)
    new = {name: max(n - bench.pools[name].available, 0) for name, n in need.items()}
    for name, n in new.items():
        if n and bench.pools[name].last + max(n, bench.pools[name].min_refill) > MAX_ID:
            raise PlanError(
                f"pool {name}: {n:,} more consultations would pass PostgreSQL's largest integer id"
            )
    creates = sum(need.values()) // BUDGET_FACTOR
    needed = disk_needed(sum(new.values()), creates)
    _check_disk(needed, bench.stack.free_disk_bytes(), f"the rest of the run from {phase}")
    for name, n in need.items():
        bench.pools[name].reserve(n)
