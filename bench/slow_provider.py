"""The ``slow_provider`` scenario: checkouts while the payment provider answers slowly.

PayMongo is the provider (``PAYMENT_PROVIDER=paymongo``), played by the loopback fake of the
test suite (tests/support/paymongo_fake.py) answering every checkout-session create after
``LATENCY`` seconds, as a slow provider would. Its own database (``bench_slow``, migrated and
seeded here), one gunicorn server per thread count, the product's gunicorn.conf.py.

- **distinct checkouts**: wrk creates payments on distinct consultations through the API,
  each with its hosted checkout (201 + ``Link``). With gthread each create holds its thread
  for the provider's ``LATENCY``, so the most a server can do is ``threads / LATENCY`` per
  second (threads = workers x threads per worker); target: at least 0.8 of that. Measured
  for several threads per worker, and once with an instant provider (the same creates,
  CPU-bound), to choose the production default (docs/operations.md).
- **storm during the slow create**: one press starts the create; while it is in flight at
  the provider, ``storm_size`` presses on the same consultation (half the client's retries of
  that press with its key, half other tabs with keys of their own) are released together.
  Targets: the provider is called once, and the presses' p99 is at most 600 ms (they are
  answered from the claim, never held while the provider works).

``phase(bench, stack)`` stores its figures in ``bench.extra["slow_provider"]``;
``targets(extra)`` turns them into rows of the report's target table.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import load, seed
from bench.model import Bench, log, target
from bench.stack import THREADS, WORKERS, Server, Stack
from tests.support.paymongo_fake import SECRET_KEY, WEBHOOK_SECRET, PayMongoFake

DATABASE = "bench_slow"
#: Seconds the fake takes to answer each checkout-session create.
LATENCY = 0.3
#: Threads per worker measured (the bench's shape first: its threads are the target's).
THREAD_COUNTS = {"quick": (THREADS, 4, 8), "full": (THREADS, 4, 8, 16)}
STORM_P99_MS = 600
SESSIONS = "/v1/checkout_sessions"


def phase(bench: Bench, stack: Stack) -> None:
    """Measure, and store the results in ``bench.extra["slow_provider"]``."""
    p = bench.profile
    counts = THREAD_COUNTS.get(p.mode, THREAD_COUNTS["quick"])
    seconds = p.seconds
    storms = 1 if p.mode == "quick" else 5
    plan = [
        (threads, latency)
        for threads in counts
        # An instant provider too, for the bench's shape and the most threads: what the
        # extra threads cost when the work is CPU, not waiting.
        for latency in ((LATENCY, 0.0) if threads in (THREADS, max(counts)) else (LATENCY,))
    ]
    # Enough fresh consultations for every run at its ceiling, three times over.
    per_run = int(3 * WORKERS * max(counts) / LATENCY * (seconds + p.warmup_seconds)) + 500
    patients = per_run * len(plan) + storms + 10
    log(f"slow provider: seeding {patients:,} patients into {DATABASE}")
    stack.create_database(DATABASE)
    stack.migrate(DATABASE)
    with stack.connect(DATABASE) as conn:
        seed.seed_patients(conn, patients)
    fake = PayMongoFake().start()
    next_id = 1
    results: dict[str, Any] = {
        "latency_s": LATENCY,
        "workers": WORKERS,
        "seconds": seconds,
        "runs": [],
    }
    try:
        for threads, latency in plan:
            server = _server(stack, fake, threads)
            try:
                fake.create_latency = latency
                run, next_id = _distinct(bench, stack, server, fake, threads, next_id, per_run)
                run["latency_s"] = latency
                results["runs"].append(run)
                if threads == THREADS and latency == LATENCY:
                    _wait_idle(fake)
                    storm, next_id = _storms(bench, server, fake, next_id, storms)
                    results["storm"] = storm
            finally:
                stack.stop_servers()
    finally:
        fake.stop()
    bench.extra["slow_provider"] = results


def _server(stack: Stack, fake: PayMongoFake, threads: int) -> Server:
    server = stack.serve(
        DATABASE,
        "hybrid",
        extra_env={
            "PAYMENT_PROVIDER": "paymongo",
            "PAYMONGO_SECRET_KEY": SECRET_KEY,
            "PAYMONGO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PAYMONGO_API_URL": fake.base_url,
            # A pool connection for every thread (and as many again for overflow).
            "DB_POOL_SIZE": str(max(10, threads)),
        },
        threads=threads,
    )
    stack.start_servers([server])
    stack.wait_ready([server])
    return server


def _distinct(
    bench: Bench,
    stack: Stack,
    server: Server,
    fake: PayMongoFake,
    threads: int,
    first: int,
    per_run: int,
) -> tuple[dict[str, Any], int]:
    """Creates on distinct consultations, each with its hosted checkout; wrk keeps twice as
    many connections open as there are threads, so no thread waits for a client."""
    p = bench.profile
    total = WORKERS * threads
    connections = 2 * total
    warm = per_run // 4
    load.run_wrk(
        server.url,
        "create.lua",
        [first, warm, load.WRK_THREADS, f"slow-warm-{first}"],
        connections=connections,
        seconds=p.warmup_seconds,
    )
    _wait_idle(fake)
    result = load.run_wrk(
        server.url,
        "create.lua",
        [first + warm, per_run - warm, load.WRK_THREADS, f"slow-{first}"],
        connections=connections,
        seconds=p.seconds,
        cpu_roots=stack.cpu_roots(server),
    )
    ceiling = total / LATENCY
    run = {
        "threads_per_worker": threads,
        "threads": total,
        "connections": connections,
        "rps": round(result.rps, 1),
        "ceiling_rps": round(ceiling, 1),
        "of_ceiling": round(result.rps / ceiling, 3),
        "p50_ms": round(result.p50_ms, 1),
        "p99_ms": round(result.p99_ms, 1),
        "errors": result.errors((201,)) + result.replayed,
        "statuses": result.statuses,
        "cpu_ms_per_request": _round(result.cpu_ms_per_request()),
        "worker_rss_mb": _workers_rss_mb(server),
    }
    log(
        f"slow provider {WORKERS}x{threads}: {run['rps']} checkouts/s "
        f"({run['of_ceiling']:.2f} of {ceiling:.1f}), p99 {run['p99_ms']} ms, "
        f"cpu {run['cpu_ms_per_request']} ms/req, statuses {result.statuses}"
    )
    return run, first + per_run


def _wait_idle(fake: PayMongoFake, quiet: float = 2.0, bound: float = 60.0) -> None:
    """Until the server has finished the requests wrk left behind (no provider call for
    ``quiet`` seconds): the next run then measures its own requests, and a storm's provider
    calls are the storm's own."""
    deadline = time.monotonic() + bound
    seen = len(fake.requests)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        if len(fake.requests) == seen:
            return
        seen = len(fake.requests)


def _storms(
    bench: Bench, server: Server, fake: PayMongoFake, first: int, storms: int
) -> tuple[dict[str, Any], int]:
    total = load.StormResult()
    calls, statuses, firsts = [], {}, []
    for k in range(storms):
        before = fake.calls("POST", SESSIONS)
        result, first_ms = asyncio.run(
            _storm_during_create(server.port, fake, first + k, bench.profile.storm_size, before)
        )
        calls.append(fake.calls("POST", SESSIONS) - before)
        total.extend(result)
        firsts.append(round(first_ms, 1))
    for status in total.statuses:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    storm = {
        "storms": storms,
        "presses_per_storm": bench.profile.storm_size,
        "provider_calls_per_storm": calls,
        "statuses": dict(sorted(statuses.items())),
        "first_press_ms": firsts,
        "p50_ms": round(total.percentile(50), 1),
        "p95_ms": round(total.percentile(95), 1),
        "p99_ms": round(total.percentile(99), 1),
        "max_ms": round(max(total.latencies_ms, default=0.0), 1),
    }
    log(
        f"slow provider storm: provider calls {calls}, p50 {storm['p50_ms']} ms, "
        f"p99 {storm['p99_ms']} ms, statuses {storm['statuses']}"
    )
    return storm, first + storms


async def _storm_during_create(
    port: int, fake: PayMongoFake, consultation_id: int, size: int, calls_before: int
) -> tuple[load.StormResult, float]:
    """The first press, then ``size`` presses sent together once its create reached the provider.

    The presses connect only then: a gthread worker hands each new connection to a thread,
    which waits for its request, so connections opened early and left idle would take every
    thread and the first press would never be served. Each press is timed from its send.
    """
    host = "127.0.0.1"
    key = f"press-{consultation_id}"
    first = asyncio.create_task(
        _press(host, port, load._payment_request(host, port, consultation_id, key))
    )
    deadline = time.monotonic() + 30
    while fake.calls("POST", SESSIONS) == calls_before:
        if time.monotonic() > deadline:
            raise RuntimeError("the storm's first press never reached the provider")
        await asyncio.sleep(0.002)
    started = time.perf_counter()
    answers = await asyncio.gather(
        *[
            _press(
                host,
                port,
                load._payment_request(
                    host, port, consultation_id, key if i % 2 else f"{key}-tab-{i}"
                ),
            )
            for i in range(size)
        ]
    )
    result = load.StormResult(seconds=time.perf_counter() - started)
    for status, ms in answers:
        result.statuses.append(status)
        result.latencies_ms.append(ms)
    first_status, first_ms = await first
    if first_status != 201:
        raise RuntimeError(f"the storm's first press answered {first_status}")
    return result, first_ms


async def _press(host: str, port: int, payload: bytes) -> tuple[int, float]:
    """One request sent as soon as it is connected: (status, ms), status 0 when no answer."""
    gun = load._StartingGun(1)
    gun.go.set()
    return await load._one(host, port, payload, gun, 30.0)


def _workers_rss_mb(server: Server) -> float | None:
    """Resident memory of the server's workers together (MB), from /proc."""
    pid = server.proc.pid
    try:
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pages = sum(int(Path(f"/proc/{w}/statm").read_text().split()[1]) for w in workers)
    except OSError:
        return None
    return round(pages * 4096 / 1e6, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def targets(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the target table from ``bench.extra["slow_provider"]`` (the bench's shape,
    ``WORKERS`` x ``THREADS``, at ``LATENCY``); n/a when the phase did not run."""
    runs = [
        r
        for r in extra.get("runs", [])
        if r["threads_per_worker"] == THREADS and r["latency_s"] == LATENCY
    ]
    run = runs[0] if runs else None
    storm = extra.get("storm") or {}
    calls = storm.get("provider_calls_per_storm")
    ceiling = WORKERS * THREADS / LATENCY
    return [
        target(
            f"slow provider ({LATENCY * 1000:.0f} ms): distinct checkouts/s, "
            f"{WORKERS}x{THREADS} threads",
            run and run["rps"],
            ">=",
            round(0.8 * ceiling, 1),
            basis="req/s",
            note=f"0.8 x threads / {LATENCY} s",
        ),
        target(
            "slow provider: provider calls per 200-press storm (the storm furthest from 1)",
            max(calls, key=lambda n: abs(n - 1)) if calls else None,
            "==",
            1,
            basis="count",
        ),
        target(
            "slow provider: storm during the slow create, p99 ms",
            storm.get("p99_ms"),
            "<=",
            STORM_P99_MS,
            basis="ms",
        ),
    ]
