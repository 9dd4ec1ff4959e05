"""The benchmark's plan of fresh consultations (bench/plan.py), run with a fast fake.

``bench.run.measure`` runs every scenario that takes consultations, in order, with its real
pools, checkpoints and refills; only the outside world is faked: wrk, the storm client, the
HTML form's preparation, the database (a connection that answers zero) and the seeding
itself (``seed.add_patients`` hands out the next free ids). The fake serves
``FAST_RPS`` creates a second (half that in the warm-up), twenty to fifty times what this
stack does on two cores, so a plan sized for today's speed, or the seeded pool alone, or the
first plan without the top-ups between rounds, would run out.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench import html_form, load, plan, run, seed, verify
from bench.model import PROFILES, Bench, Pool, PoolExhausted

FAST_RPS = 20_000
TERABYTE = 1024**4


@dataclass
class FakeServer:
    name: str
    url: str = "http://127.0.0.1:1"
    port: int = 1


class FakeConn:
    """A database connection whose every query answers 0 (no duplicates, no size)."""

    def __init__(self, database: str) -> None:
        self.database = database

    def __enter__(self) -> FakeConn:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, *args: object) -> FakeConn:
        return self

    def fetchone(self) -> tuple[int]:
        return (0,)


@dataclass
class FakeStack:
    free: int
    log_dir: Path
    calls: list[str] = field(default_factory=list)

    def connect(self, database: str) -> FakeConn:
        return FakeConn(database)

    def cpu_roots(self, server: FakeServer) -> list[int]:
        return []

    def free_disk_bytes(self) -> int:
        return self.free


def _result(requests: int, seconds: float, wrapped: int) -> load.WrkResult:
    return load.WrkResult(
        requests=requests,
        seconds=seconds,
        p50_ms=1.0,
        p95_ms=2.0,
        p99_ms=3.0,
        max_ms=4.0,
        statuses={"201": requests},
        socket_errors=0,
        replayed=0,
        wrapped=wrapped,
        generator_cpu_s=0.01,
        machine_busy_s=1.0,
        server_cpu_s=requests * 0.001,
    )


@pytest.fixture
def fake_world(monkeypatch, tmp_path):
    """Fakes for everything bench.run measures with; returns the list of wrk runs made."""
    forms: dict[str, int] = {}
    wrk_runs: list[tuple[str, int, int]] = []  # script, consultations given, requests made

    def serve(script: str, args: list, seconds: float) -> load.WrkResult:
        # Half speed in the first warm-up (a cold server), full speed from the first round:
        # the plan made after the warm-up must be topped up as the rounds measure more.
        warming = len(wrk_runs) <= len(plan.WARMED)
        requests = int(FAST_RPS * seconds / (2 if warming else 1))
        given = {"create.lua": lambda: int(args[1]), "form.lua": lambda: forms[str(args[0])]}
        count = given[script]() if script in given else requests
        wrk_runs.append((script, count, requests))
        # As bench/lua/create.lua does: past its range a run repeats consultations.
        return _result(requests, seconds, max(requests - count, 0))

    def run_wrk(url, script, args, *, connections, seconds, think_ms=0, cpu_roots=None):
        return serve(script, args, seconds)

    async def run_wrk_async(url, script, args, *, connections, seconds, think_ms=0, **kw):
        for _ in range(20_000):  # long enough for the bursts beside it to reach their bound
            await asyncio.sleep(0)
        return serve(script, args, seconds)

    async def storm(host, port, consultations, key_tag, timeout=30.0, cpu_roots=None):
        await asyncio.sleep(0)
        n = len(consultations)
        return load.StormResult([201] + [409] * (n - 1), [5.0] * n, 0.05, 0.2)

    def prepare(url, first, count, path):
        forms[str(path)] = count

    next_free: dict[str, int] = {}

    def add_patients(conn: FakeConn, count: int) -> int:
        first = next_free.setdefault(conn.database, 10**7 * (1 + len(next_free)))
        next_free[conn.database] = first + count
        return first

    monkeypatch.setattr(load, "run_wrk", run_wrk)
    monkeypatch.setattr(load, "run_wrk_async", run_wrk_async)
    monkeypatch.setattr(load, "storm", storm)
    monkeypatch.setattr(html_form, "prepare", prepare)
    monkeypatch.setattr(seed, "add_patients", add_patients)
    monkeypatch.setattr(run, "post_json", lambda *a, **k: type("Answer", (), {"status": 201}))
    monkeypatch.setattr(verify, "duplicates", lambda *a: {"consultations": 0})
    monkeypatch.setattr(verify, "payments_in", lambda *a: 0)
    monkeypatch.setattr(verify, "active_payments", lambda *a: 1)
    monkeypatch.setattr(verify, "integrity", lambda *a: {})
    return wrk_runs


def _measure(mode: str, free: int, log_dir: Path) -> Bench:
    profile = PROFILES[mode]
    stack = FakeStack(free, log_dir)
    patients = plan.check_start(profile, free)
    bench = Bench(profile, stack, run.make_pools(stack, profile, patients))  # type: ignore[arg-type]
    servers = {
        name: FakeServer(name) for name in ("unguarded", *run.GUARDED, "unguarded_noindex", "floor")
    }
    growth = {level: FakeServer(f"growth_{level}") for level in profile.growth_levels}
    databases = {level: f"bench_growth_{level}" for level in profile.growth_levels}
    # In a thread of its own: the storms run with asyncio.run, which refuses to start where an
    # event loop is already running, as Playwright's sync API leaves one on the main thread
    # after the browser tests of the same pytest run.
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(run.measure, bench, servers, growth, databases).result()
    return bench


@pytest.mark.parametrize("mode", sorted(PROFILES))
def test_a_fast_server_never_runs_out_of_fresh_consultations(fake_world, tmp_path, mode):
    bench = _measure(mode, TERABYTE, tmp_path)

    measured = [run for runs in bench.runs.values() for run in runs]
    assert len(bench.runs["hybrid"]) == bench.profile.rounds
    assert len(bench.runs["growth_0"]) == bench.profile.growth_rounds
    # Every measured create had a fresh consultation for each of its requests.
    assert [r.result.wrapped for r in measured] == [0] * len(measured)
    # So did every create after the first warm-up (which ran on the default estimate).
    after_warm_up = fake_world[len(plan.WARMED) + 1 :]
    assert [(s, n, made) for s, n, made in after_warm_up if made > n] == []
    # The first seed covered the warm-up only; the rest was seeded as measured.
    assert bench.pools["main"].refills >= 1
    assert bench.pools["main"].seeded > 10 * plan.initial_patients(bench.profile)
    taken = sum(made for script, _, made in fake_world if script != "healthz.lua")
    assert bench.pools["main"].seeded > taken / 2


def test_a_plan_the_disk_cannot_hold_stops_before_anything_is_measured(fake_world, tmp_path):
    # Enough for the run at the default estimate, not for one twenty times faster.
    free = plan.start_bytes(PROFILES["full"]) + plan.DISK_HEADROOM
    with pytest.raises(plan.PlanError, match="from throughput .* GB are free"):
        _measure("full", free, tmp_path)
    # Only the warm-up ran: the plan failed at its first checkpoint, after measuring it.
    assert {script for script, _, _ in fake_world} <= {"create.lua", "healthz.lua"}
    assert len(fake_world) == len(plan.WARMED) + 1


def test_the_start_check_refuses_a_disk_too_small_for_the_first_seed():
    full = PROFILES["full"]
    with pytest.raises(plan.PlanError, match="`full` mode .*`make bench-quick`"):
        plan.check_start(full, plan.start_bytes(full) + plan.DISK_HEADROOM - 1)
    assert plan.check_start(PROFILES["quick"], TERABYTE) == plan.initial_patients(PROFILES["quick"])


def test_a_pool_hands_out_only_what_was_reserved():
    seeded: list[int] = []
    free = [101]  # the database's next free id

    def refill(count: int) -> int:
        seeded.append(count)
        if len(seeded) == 2:
            free[0] = 500  # someone else's rows in between: the new range does not continue
        first, free[0] = free[0], free[0] + count
        return first

    pool = Pool("p", 100, refill, min_refill=10)
    assert pool.take(60) == (1, 60)
    with pytest.raises(PoolExhausted):
        pool.take(50)
    pool.reserve(50)
    assert (pool.next, pool.last, seeded) == (61, 110, [10])
    pool.reserve(80)
    # The range that did not continue replaced what was left; the next one continued it.
    assert (pool.next, pool.last, seeded) == (500, 579, [10, 30, 50])
    assert pool.take(80) == (500, 80)
    with pytest.raises(PoolExhausted):
        Pool("fixed", 5).reserve(6)
