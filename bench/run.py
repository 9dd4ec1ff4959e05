"""``make bench`` / ``make bench-quick``: every scenario in one invocation, so ratios compare.

    .venv/bin/python -m bench.run --mode full    # writes bench/results/latest.{json,md}
    .venv/bin/python -m bench.run --mode quick   # writes bench/results/quick.{json,md}

Starts its own PostgreSQL, Redis and gunicorn servers (one per PAYMENT_GUARD),
seeds with SQL, drives load with wrk, checks the database after each scenario
and writes the report. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(ROOT))

from bench import html_form, load, report, seed, staff_scale, verify  # noqa: E402
from bench.model import PROFILES, Bench, Pool, Profile, Run, log  # noqa: E402
from bench.stack import Server, Stack  # noqa: E402
from tests.support.storm import post_json  # noqa: E402

GUARDED = ("hybrid", "pessimistic", "optimistic", "redis_lock")
CREATE_OK = (201,)
FLOOR_APP = "bench.floor:app"


# --- setup -------------------------------------------------------------------------------


def prepare_databases(stack: Stack, profile: Profile) -> None:
    log(f"seeding {profile.patients:,} patients, tokens and consultations")
    stack.create_database("bench_template")
    stack.migrate("bench_template")
    with stack.connect("bench_template") as conn:
        seed.seed_patients(conn, profile.patients)
    stack.create_database("bench_main", template="bench_template")
    stack.create_database("bench_noindex", template="bench_template")
    with stack.connect("bench_noindex") as conn:
        # Only here: shows what the unguarded path does without the last line of defence.
        conn.execute("DROP INDEX uq_payments_one_active_per_consultation")


def warm_up(bench: Bench, servers: dict[str, Server]) -> None:
    """Every worker imports, connects and compiles before anything is measured."""
    seconds = bench.profile.warmup_seconds
    for name, server in servers.items():
        first, count = bench.pool.take(bench.budget(name, seconds))
        result = load.run_wrk(
            server.url,
            "create.lua",
            [first, count, load.WRK_THREADS, f"warm-{name}"],
            connections=bench.profile.connections,
            seconds=seconds,
        )
        bench.estimates[name] = result.rps
    load.run_wrk(
        servers["hybrid"].url,
        "healthz.lua",
        [],
        connections=bench.profile.connections,
        seconds=seconds,
    )


def analyze(stack: Stack, database: str) -> None:
    """Refresh planner statistics after the warm-up, as autovacuum would within a minute.

    A database that started with no payments keeps plans made for an empty table:
    the active-payment lookup then scans the whole (growing) payments table, which
    only the guarded paths run, and the comparison would measure that artifact.
    """
    with stack.connect(database) as conn:
        conn.execute("VACUUM ANALYZE")


# --- phase A: ceiling, creates, replay, HTML form ------------------------------------------


def run_create(bench: Bench, name: str, server: Server, database: str, tag: str) -> Run:
    p = bench.profile
    first, count = bench.pool.take(bench.budget(name, p.seconds))
    result = load.run_wrk(
        server.url,
        "create.lua",
        [first, count, load.WRK_THREADS, tag],
        connections=p.connections,
        seconds=p.seconds,
        cpu_roots=bench.stack.cpu_roots(server),
    )
    bench.estimates[name] = max(bench.estimates.get(name, 0), result.rps)
    with bench.stack.connect(database) as conn:
        dup = verify.duplicates(conn, first, first + count - 1)
        made = verify.payments_in(conn, first, first + count - 1)
    return Run(result, CREATE_OK, first, count, dup, made)


def run_ceiling(bench: Bench, server: Server) -> Run:
    p = bench.profile
    result = load.run_wrk(
        server.url,
        "healthz.lua",
        [],
        connections=p.connections,
        seconds=p.seconds,
        cpu_roots=bench.stack.cpu_roots(server),
    )
    return Run(result, (200,))


def first_payment(bench: Bench, server: Server, key: str) -> int:
    """One paid consultation whose key the replay scenario then repeats."""
    cid, _ = bench.pool.take(1)
    answer = post_json(
        server.url + "/api/v1/payments",
        {"consultation_id": cid, "payment_method": "gcash"},
        {"Authorization": f"Bearer {seed.token_for(cid)}", "Idempotency-Key": key},
    )
    if answer.status != 201:
        raise RuntimeError(f"the replay scenario's first payment answered {answer.status}")
    return cid


def run_replay(bench: Bench, server: Server, cid: int, key: str) -> Run:
    p = bench.profile
    result = load.run_wrk(
        server.url,
        "replay.lua",
        [cid, key],
        connections=p.connections,
        seconds=p.seconds,
        cpu_roots=bench.stack.cpu_roots(server),
    )
    with bench.stack.connect("bench_main") as conn:
        dup = verify.duplicates(conn, cid, cid)
        made = verify.payments_in(conn, cid, cid)
    return Run(result, CREATE_OK, cid, 1, dup, made, replays_are_errors=False)


def run_html(bench: Bench, server: Server, tag: str) -> Run | None:
    """The HTML form scenario, or None (and a note) when the checkout page is not served."""
    if bench.extra.get("hybrid_html_unavailable"):
        return None
    p = bench.profile
    first, count = bench.pool.take(bench.budget("hybrid_html", p.seconds))
    forms = bench.stack.log_dir / f"forms-{tag}.tsv"
    try:
        html_form.prepare(server.url, first, count, forms)
    except html_form.NotAvailable as exc:
        bench.extra["hybrid_html_unavailable"] = str(exc)
        log(f"hybrid_html: not available ({exc})")
        return None
    result = load.run_wrk(
        server.url,
        "form.lua",
        [forms, load.WRK_THREADS],
        connections=p.connections,
        seconds=p.seconds,
        cpu_roots=bench.stack.cpu_roots(server),
    )
    bench.estimates["hybrid_html"] = max(bench.estimates.get("hybrid_html", 0), result.rps)
    with bench.stack.connect("bench_main") as conn:
        dup = verify.duplicates(conn, first, first + count - 1)
        made = verify.payments_in(conn, first, first + count - 1)
    return Run(result, html_form.OK_STATUSES, first, count, dup, made)


def phase_throughput(bench: Bench, servers: dict[str, Server]) -> None:
    replay_keys = {
        "replay": ("hybrid", "replay-key-redis"),
        "replay_db": ("pessimistic", "replay-key-db"),
        "floor_replay": ("floor", "replay-key-floor"),
    }
    replay_ids = {
        name: first_payment(bench, servers[guard], key)
        for name, (guard, key) in replay_keys.items()
    }
    steps: list[tuple[str, Any]] = [
        ("ceiling", lambda r: run_ceiling(bench, servers["hybrid"])),
        *[
            (g, lambda r, g=g: run_create(bench, g, servers[g], "bench_main", f"{g}-r{r}"))
            for g in ("unguarded", *GUARDED, "floor")
        ],
        ("hybrid_html", lambda r: run_html(bench, servers["hybrid"], f"html-r{r}")),
        *[
            (
                name,
                lambda r, name=name, g=g, k=k: run_replay(bench, servers[g], replay_ids[name], k),
            )
            for name, (g, k) in replay_keys.items()
        ],
    ]
    for round_no in range(bench.profile.rounds):
        log(f"throughput round {round_no + 1}/{bench.profile.rounds}")
        # Rotate the order each round so no scenario always runs first or last.
        shift = round_no % len(steps)
        for name, step in steps[shift:] + steps[:shift]:
            run = step(round_no)
            if run is not None:
                bench.record(name, run)


# --- phase B: storms -----------------------------------------------------------------------


def phase_storms(bench: Bench, servers: dict[str, Server]) -> None:
    p = bench.profile
    targets = [(g, servers[g], "bench_main") for g in (*GUARDED, "unguarded")]
    targets.append(("unguarded_noindex", servers["unguarded_noindex"], "bench_noindex"))
    results = {name: load.StormResult() for name, _, _ in targets}
    per_consultation: dict[str, list[int]] = {name: [] for name, _, _ in targets}
    for k in range(p.storms):
        for name, server, database in targets:
            if name.startswith("unguarded") and k >= p.unguarded_storms:
                continue
            cid, _ = bench.pool.take(1)
            outcome = asyncio.run(
                load.storm("127.0.0.1", server.port, [cid] * p.storm_size, f"storm-{name}-{k}")
            )
            results[name].extend(outcome)
            with bench.stack.connect(database) as conn:
                per_consultation[name].append(verify.active_payments(conn, cid))
        log(f"storm {k + 1}/{p.storms} done")
    bench.extra["storms"] = {
        name: storm_summary(results[name], per_consultation[name], p) for name, _, _ in targets
    }


def storm_summary(result: load.StormResult, actives: list[int], p: Profile) -> dict[str, Any]:
    answered = sum(1 for s in result.statuses if s != 0)
    return {
        "storms": len(actives),
        "requests_per_storm": p.storm_size,
        "requests": len(result.statuses),
        "answered": answered,
        "statuses": result.histogram(),
        "consultations_with_exactly_one_payment": sum(1 for n in actives if n == 1),
        "duplicates": sum(1 for n in actives if n > 1),
        "extra_payments": sum(n - 1 for n in actives if n > 1),
        "p50_ms": round(result.percentile(50), 1),
        "p95_ms": round(result.percentile(95), 1),
        "p99_ms": round(result.percentile(99), 1),
        "seconds_per_storm": round(result.seconds / max(len(actives), 1), 2),
    }


# --- phase D: isolation ------------------------------------------------------------------


async def _bursts_until(done: asyncio.Future, bench: Bench, server: Server, spread: bool):
    """Bursts of ``storm_size`` requests back to back until ``done``: a storm on one fresh
    consultation, or (``spread``) one request on each of that many fresh consultations."""
    size = bench.profile.storm_size
    targets, bursts = [], 0
    while not done.done():
        first, _ = bench.pool.take(size if spread else 1)
        ids = list(range(first, first + size)) if spread else [first] * size
        await load.storm("127.0.0.1", server.port, ids, f"iso-{first}")
        targets.extend(sorted(set(ids)))
        bursts += 1
    return targets, bursts


async def _isolation_run(bench: Bench, server: Server, mode: str, think_ms: int):
    p = bench.profile
    first, count = bench.pool.take(bench.budget("hybrid", p.isolation_seconds))
    wrk = asyncio.ensure_future(
        load.run_wrk_async(
            server.url,
            "create.lua",
            [first, count, load.WRK_THREADS, f"iso-{first}"],
            connections=p.connections,
            seconds=p.isolation_seconds,
            think_ms=think_ms,
            cpu_roots=bench.stack.cpu_roots(server),
        )
    )
    targets, bursts = [], 0
    if mode != "isolation_none":
        targets, bursts = await _bursts_until(wrk, bench, server, mode == "isolation_spread")
    return await wrk, first, count, targets, bursts


ISOLATION_MODES = ("isolation_none", "isolation_storm", "isolation_spread")


def phase_isolation(bench: Bench, server: Server) -> None:
    """Steady checkouts on their own consultations, alone, during storms on one consultation,
    and during bursts of the same size spread over distinct consultations (the control:
    the same extra load without contention on one row)."""
    p = bench.profile
    capacity = load.median([r.result.rps for r in bench.runs.get("hybrid", [])]) or 100
    # Steady traffic at about half the measured capacity: room to spare, so a drop means
    # the storm took something from the others, not that the server was already full.
    think_ms = max(1, round(1000 * p.connections / (0.5 * capacity)))
    info = bench.extra["isolation"] = {"think_ms": think_ms, "bursts": {}, "cores_busy": {}}
    for round_no in range(p.isolation_rounds):
        shift = round_no % len(ISOLATION_MODES)
        for mode in ISOLATION_MODES[shift:] + ISOLATION_MODES[:shift]:
            result, first, count, targets, bursts = asyncio.run(
                _isolation_run(bench, server, mode, think_ms)
            )
            with bench.stack.connect("bench_main") as conn:
                dup = verify.duplicates(conn, first, first + count - 1)
                dup["consultations"] += sum(
                    1 for cid in targets if verify.active_payments(conn, cid) > 1
                )
                made = verify.payments_in(conn, first, first + count - 1)
            info["bursts"][mode] = info["bursts"].get(mode, 0) + bursts
            info["cores_busy"].setdefault(mode, []).append(
                round(result.server_cpu_s / result.seconds, 2)
            )
            bench.record(mode, Run(result, CREATE_OK, first, count, dup, made))


# --- phase C: growth ------------------------------------------------------------------------


def growth_database(stack: Stack, profile: Profile, level: int) -> str:
    name = f"bench_growth_{level}"
    stack.create_database(name, template="bench_growth_template")
    if level:
        log(f"seeding {level:,} past payments (invoices, tax records, keys, events) into {name}")
        with stack.connect(name) as conn:
            seed.seed_history(conn, level, profile.growth_patients)
    return name


def prepare_growth(stack: Stack, profile: Profile) -> dict[int, str]:
    """One database per growth level, each with the same patients and its own history."""
    stack.create_database("bench_growth_template")
    stack.migrate("bench_growth_template")
    with stack.connect("bench_growth_template") as conn:
        seed.seed_patients(conn, profile.growth_patients)
    return {level: growth_database(stack, profile, level) for level in profile.growth_levels}


def phase_growth(bench: Bench, servers: dict[int, Server], databases: dict[int, str]) -> None:
    p = bench.profile
    pools = {level: Pool(p.growth_patients) for level in p.growth_levels}
    for level, server in servers.items():  # warm up, as for the other servers
        first, count = pools[level].take(bench.budget("hybrid", p.warmup_seconds))
        load.run_wrk(
            server.url,
            "create.lua",
            [first, count, load.WRK_THREADS, "warm"],
            connections=p.connections,
            seconds=p.warmup_seconds,
        )
        analyze(bench.stack, databases[level])
    for round_no in range(p.growth_rounds):
        order = list(p.growth_levels)
        shift = round_no % len(order)
        for level in order[shift:] + order[:shift]:
            growth_run(bench, level, servers[level], databases[level], pools[level])


def growth_run(bench: Bench, level: int, server: Server, database: str, pool: Pool) -> None:
    p = bench.profile
    first, count = pool.take(bench.budget("hybrid", p.growth_seconds))
    result = load.run_wrk(
        server.url,
        "create.lua",
        [first, count, load.WRK_THREADS, f"g{first}"],
        connections=p.connections,
        seconds=p.growth_seconds,
        cpu_roots=bench.stack.cpu_roots(server),
    )
    with bench.stack.connect(database) as conn:
        dup = verify.duplicates(conn, first, first + count - 1)
        made = verify.payments_in(conn, first, first + count - 1)
        if "growth_sizes" not in bench.extra:
            bench.extra["growth_sizes"] = {}
        bench.extra["growth_sizes"][str(level)] = conn.execute(
            "SELECT pg_database_size(current_database())"
        ).fetchone()[0]
    bench.record(f"growth_{level}", Run(result, CREATE_OK, first, count, dup, made))


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(PROFILES), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    profile = PROFILES[args.mode]
    started = time.monotonic()
    machine_before = report.machine_info()
    stack = Stack.start()
    try:
        bench = Bench(profile, stack, Pool(profile.patients))
        servers = {g: stack.serve("bench_main", g) for g in ("unguarded", *GUARDED)}
        servers["unguarded_noindex"] = stack.serve("bench_noindex", "unguarded")
        # The floor: the same create and replay in raw SQL, same gunicorn shape (bench/floor.py).
        servers["floor"] = stack.serve("bench_main", "hybrid", app=FLOOR_APP)
        growth_servers = {
            level: stack.serve(f"bench_growth_{level}", "hybrid") for level in profile.growth_levels
        }
        log(f"starting {len(stack.servers)} gunicorn servers while the databases are seeded")
        stack.start_servers(stack.servers)
        prepare_databases(stack, profile)
        growth_databases = prepare_growth(stack, profile)
        stack.wait_ready(stack.servers)
        warm_up(bench, {k: v for k, v in servers.items() if k != "unguarded_noindex"})
        analyze(stack, "bench_main")
        phase_throughput(bench, servers)
        phase_storms(bench, servers)
        phase_isolation(bench, servers["hybrid"])
        with stack.connect("bench_main") as conn:
            bench.extra["integrity"] = verify.integrity(conn)
        phase_growth(bench, growth_servers, growth_databases)
        staff_scale.phase(bench, stack)
    finally:
        stack.close()
    elapsed = time.monotonic() - started
    paths = report.write(bench, profile, args.out, elapsed, machine_before)
    log(f"done in {elapsed:.0f} s: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
