"""Turn the runs into bench/results/<name>.json and a Markdown table."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import load, slow_provider, stack, staff_scale
from bench.model import Bench, Profile, target

GUARDED = ("hybrid", "pessimistic", "optimistic", "redis_lock")

DESCRIPTIONS = {
    "ceiling": "GET /healthz (same app and server)",
    "unguarded": "create, every guard removed (benchmark-only)",
    "hybrid": "create, hybrid guard, JSON API",
    "pessimistic": "create, pessimistic guard, JSON API",
    "optimistic": "create, optimistic guard, JSON API",
    "redis_lock": "create, redis_lock guard, JSON API",
    "hybrid_html": "create, hybrid guard, HTML form (session + CSRF)",
    "replay": "one key repeated (hybrid: Redis replay)",
    "replay_db": "one key repeated (pessimistic: database replay)",
    "floor": "create, the floor: raw SQL, no framework (bench/floor.py)",
    "floor_replay": "one key repeated, the floor (Redis replay)",
    "isolation_none": "steady checkouts, no storm",
    "isolation_storm": "steady checkouts while storms hit one consultation",
    "isolation_spread": "steady checkouts during equal bursts over distinct consultations",
}


def describe(name: str) -> str:
    if name.startswith("growth_"):
        return f"create (hybrid) with {int(name.removeprefix('growth_')):,} payments already there"
    return DESCRIPTIONS.get(name, name)


def _version(command: list[str]) -> str:
    binary = shutil.which(command[0])
    if not binary:
        return "missing"
    out = subprocess.run([binary, *command[1:]], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    from tests.support.services import _pg_bin

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _version([_pg_bin("postgres"), "--version"]),
        "redis": _version(["redis-server", "--version"]),
        "wrk": _version(["wrk", "--version"]),
        "load_average_at_start": list(os.getloadavg()),
    }


def _median(values: list[float | None], digits: int = 2) -> float | None:
    known = [v for v in values if v is not None]
    return round(load.median(known), digits) if known else None


def summarize(name: str, runs: list) -> dict[str, Any]:
    results = [r.result for r in runs]
    statuses: dict[str, int] = {}
    for r in results:
        for code, n in r.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    out = {
        "what": describe(name),
        "rounds": len(runs),
        "rps": _median([r.rps for r in results], 1),
        "p50_ms": _median([r.p50_ms for r in results], 2),
        "p95_ms": _median([r.p95_ms for r in results], 2),
        "p99_ms": _median([r.p99_ms for r in results], 2),
        "requests": sum(r.requests for r in results),
        "errors": sum(run.errors() for run in runs),
        "statuses": dict(sorted(statuses.items())),
        "cpu_ms_per_request": _median([r.cpu_ms_per_request() for r in results], 2),
        "generator_cpu_share": _median([r.generator_share() for r in results], 3),
        "rps_per_round": [round(r.rps, 1) for r in results],
    }
    if any(run.duplicates for run in runs):
        out["duplicates"] = sum(run.duplicates.get("consultations", 0) for run in runs)
        out["payments_created"] = sum(run.payments or 0 for run in runs)
    if any(r.wrapped for r in results):
        out["ran_out_of_fresh_consultations"] = sum(r.wrapped for r in results)
    out["replayed_responses"] = sum(r.replayed for r in results)
    return out


def _metric(run, metric: str) -> float | None:
    value = getattr(run.result, metric)
    return value() if callable(value) else value


def paired(runs: dict[str, list], top: str, bottom: str, metric: str = "rps") -> float | None:
    """Median over rounds of top/bottom, each pair measured within the same round."""
    values = []
    for x, y in zip(runs.get(top, []), runs.get(bottom, []), strict=False):
        a, b = _metric(x, metric), _metric(y, metric)
        if a is not None and b:
            values.append(a / b)
    return round(load.median(values), 3) if values else None


def cpu_ratios(bench: Bench) -> dict[str, Any]:
    """The same comparisons from server CPU per request (gunicorn + PostgreSQL + Redis):
    capacity on an otherwise idle machine, much less disturbed by neighbours' load."""
    runs, cpu = bench.runs, "cpu_ms_per_request"
    top = max(bench.profile.growth_levels)
    return {
        "guarded_vs_unguarded": {
            g: paired(runs, "unguarded", g, cpu) for g in (*GUARDED, "hybrid_html")
        },
        "replay_vs_ceiling": paired(runs, "ceiling", "replay", cpu),
        "create_vs_ceiling": paired(runs, "ceiling", "hybrid", cpu),
        "create_vs_floor": paired(runs, "floor", "hybrid", cpu),
        "replay_vs_floor": paired(runs, "floor_replay", "replay", cpu),
        "growth_1m_vs_0": paired(runs, f"growth_{top}", "growth_0", cpu),
        # A cost ratio (higher is worse): the HTML form's CPU per create over the API's.
        "html_vs_api": paired(runs, "hybrid_html", "hybrid", cpu),
    }


def ratios(bench: Bench) -> dict[str, Any]:
    runs = bench.runs
    top = max(bench.profile.growth_levels)
    return {
        "guarded_vs_unguarded": {
            g: paired(runs, g, "unguarded") for g in (*GUARDED, "hybrid_html")
        },
        "replay_vs_ceiling": paired(runs, "replay", "ceiling"),
        "create_vs_ceiling": paired(runs, "hybrid", "ceiling"),
        "growth_1m_vs_0": paired(runs, f"growth_{top}", "growth_0", "p50_ms"),
        "isolation_storm_vs_none": paired(runs, "isolation_storm", "isolation_none"),
        "replay_db_vs_ceiling": paired(runs, "replay_db", "ceiling"),
        "isolation_storm_vs_spread": paired(runs, "isolation_storm", "isolation_spread"),
        "create_vs_floor": paired(runs, "hybrid", "floor"),
        "replay_vs_floor": paired(runs, "replay", "floor_replay"),
        # A cost ratio, as in cpu_ratios: the API's creates per second over the form's.
        "html_vs_api": paired(runs, "hybrid", "hybrid_html"),
    }


def _guarded_duplicates(scenarios: dict[str, Any], storms: dict[str, Any]) -> int:
    total = 0
    for name, s in scenarios.items():
        if name in ("unguarded", "ceiling"):
            continue
        total += s.get("duplicates", 0)
    for name, s in storms.items():
        if not name.startswith("unguarded"):
            total += s["duplicates"]
    return total


def storm_vs_replay(scenarios: dict, storms: dict) -> float | None:
    """Server CPU per request of the hybrid storms over that of the Redis replay scenario."""
    storm = (storms.get("hybrid") or {}).get("cpu_ms_per_request")
    replay = (scenarios.get("replay") or {}).get("cpu_ms_per_request")
    return round(storm / replay, 3) if storm and replay else None


CPU = "server CPU/request"


def targets(
    r: dict[str, Any],
    c: dict[str, Any],
    scenarios: dict,
    storms: dict,
    extra: dict[str, Any],
    profile: Profile,
) -> list[dict]:
    """Each target with the figure it is judged on (``bench.model.target``).

    The comparisons of cost are judged on server CPU per request (``c``, see
    ``cpu_ratios``), which neighbours' load disturbs much less than requests per second;
    the same comparison by requests per second (``r``) is given beside them. Then the
    rows of the scenario modules (bench/staff_scale.py, bench/slow_provider.py).
    """
    top = max(profile.growth_levels)
    growth_note = (
        "" if top == 1_000_000 else f"quick mode: top size {top:,} payments, not 1,000,000"
    )
    hybrid_storm = storms.get("hybrid") or {}
    replay_cpu = (scenarios.get("replay") or {}).get("cpu_ms_per_request")
    storm_note = (
        f"storm {_fmt(hybrid_storm.get('cpu_ms_per_request'))} ms, "
        f"replay {_fmt(replay_cpu)} ms per request"
    )
    return [
        target(
            "hybrid create / floor create",
            c["create_vs_floor"],
            ">=",
            0.5,
            basis=CPU,
            also=r["create_vs_floor"],
        ),
        target(
            "hybrid replay / floor replay",
            c["replay_vs_floor"],
            ">=",
            0.6,
            basis=CPU,
            also=r["replay_vs_floor"],
        ),
        target(
            "hybrid guarded create / unguarded create",
            c["guarded_vs_unguarded"]["hybrid"],
            ">=",
            0.85,
            basis=CPU,
            also=r["guarded_vs_unguarded"]["hybrid"],
        ),
        target(
            "storm of 200 on one consultation / replay (hybrid), cost per request",
            storm_vs_replay(scenarios, storms),
            "<=",
            1.5,
            basis=CPU,
            note=storm_note,
        ),
        target(
            "storm of 200 on one consultation (hybrid), p99 ms",
            hybrid_storm.get("p99_ms"),
            "<=",
            200,
            basis="latency",
        ),
        target(
            "isolation: steady checkouts during storms / without",
            r["isolation_storm_vs_none"],
            ">=",
            0.7,
            basis="req/s",
        ),
        target(
            "HTML form create / JSON API create, cost per request",
            c["html_vs_api"],
            "<=",
            1.3,
            basis=CPU,
            also=r["html_vs_api"],
        ),
        target(
            f"growth p50 at {top:,} / p50 at 0",
            r["growth_1m_vs_0"],
            "<=",
            1.2,
            basis="latency",
            also=c["growth_1m_vs_0"],
            note=growth_note,
        ),
        target(
            "duplicates in guarded scenarios",
            _guarded_duplicates(scenarios, storms),
            "<=",
            0,
            basis="count",
        ),
        *staff_scale.targets(extra),
        *slow_provider.targets(extra.get("slow_provider") or {}),
    ]


def build(bench: Bench, profile: Profile, elapsed: float, machine: dict) -> dict[str, Any]:
    scenarios = {name: summarize(name, runs) for name, runs in bench.runs.items()}
    unavailable = bench.extra.get("hybrid_html_unavailable")
    if unavailable:
        scenarios["hybrid_html"] = {
            "what": DESCRIPTIONS["hybrid_html"],
            "available": False,
            "reason": unavailable,
        }
    storms = bench.extra.get("storms", {})
    r = ratios(bench)
    c = cpu_ratios(bench)
    notes = list(bench.notes)
    shares = [v["generator_cpu_share"] for v in scenarios.values() if v.get("generator_cpu_share")]
    if shares:
        notes.append(
            f"The load generator (wrk) used at most {100 * max(shares):.1f}% of the machine's "
            "busy CPU in any scenario; every throughput scenario uses the same generator, "
            "thread count and connection count, so its share is the same handicap for each."
        )
    if unavailable:
        notes.append(f"hybrid_html not available: {unavailable}.")
    if max(profile.growth_levels) != 1_000_000:
        notes.append(
            f"Quick mode: growth stops at {max(profile.growth_levels):,} existing payments; "
            "growth_1m_vs_0 then compares that size with 0."
        )
    machine = {**machine, "load_average_at_end": list(os.getloadavg())}
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": profile.mode,
        "command": "make bench" if profile.mode == "full" else "make bench-quick",
        "elapsed_seconds": round(elapsed),
        "machine": machine,
        "setup": {
            "gunicorn": f"{stack.WORKERS} workers x {stack.THREADS} threads (gthread), one server "
            "per PAYMENT_GUARD, production config, rate limiter off",
            "generator": f"wrk, {load.WRK_THREADS} thread, {profile.connections} connections, "
            f"keep-alive, for every throughput scenario",
            "seconds_per_run": profile.seconds,
            "rounds": profile.rounds,
            "connections": profile.connections,
            "storm_size": profile.storm_size,
            "storms_per_strategy": profile.storms,
            "growth_levels": list(profile.growth_levels),
        },
        "pools": {
            name: {"seeded": pool.seeded, "taken": pool.next - 1, "refills": pool.refills}
            for name, pool in bench.pools.items()
        },
        "ratios": r,
        "ratios_by_server_cpu": c,
        "targets": targets(r, c, scenarios, storms, bench.extra, profile),
        "scenarios": scenarios,
        "storms": storms,
        "isolation": bench.extra.get("isolation", {}),
        "staff_scale": bench.extra.get("staff_scale", {}),
        "slow_provider": bench.extra.get("slow_provider", {}),
        "growth_database_bytes": bench.extra.get("growth_sizes", {}),
        "integrity": bench.extra.get("integrity", {}),
        "notes": notes,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"# Benchmark results ({data['mode']})",
        "",
        f"{data['date']} · `{data['command']}` · {m['cores']} cores, {m['cpu']}, "
        f"{m['memory_gb']} GB · {m['postgresql']} · {m['redis'].split(' sha')[0]} · "
        f"load average {m['load_average_at_start'][0]:.2f} at start, "
        f"{m['load_average_at_end'][0]:.2f} at end (shared machine)",
        "",
        f"{data['setup']['gunicorn']}; {data['setup']['generator']}; "
        f"{data['setup']['seconds_per_run']} s per run, median of {data['setup']['rounds']} "
        "interleaved round(s).",
        "",
        "| Scenario | What | req/s | p50 ms | p95 ms | p99 ms | errors | duplicates | "
        "server CPU ms/req |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, s in data["scenarios"].items():
        if s.get("available") is False:
            lines.append(f"| {name} | {s['what']} | not available | | | | | | |")
            continue
        lines.append(
            f"| {name} | {s['what']} | {_fmt(s['rps'])} | {_fmt(s['p50_ms'])} | "
            f"{_fmt(s['p95_ms'])} | {_fmt(s['p99_ms'])} | {s['errors']} | "
            f"{s.get('duplicates', '–')} | {_fmt(s.get('cpu_ms_per_request'))} |"
        )
    lines += [
        "",
        f"Storms: {data['setup']['storm_size']} concurrent requests for one consultation, "
        "distinct keys, sent together.",
        "",
        "| Strategy | storms | requests | answered | statuses | exactly one payment | "
        "duplicates | p50 ms | p99 ms | server CPU ms/req |",
        "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    for name, s in data["storms"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in s["statuses"].items())
        lines.append(
            f"| {name} | {s['storms']} | {s['requests']} | {s['answered']} | {statuses} | "
            f"{s['consultations_with_exactly_one_payment']} | {s['duplicates']} | "
            f"{_fmt(s['p50_ms'])} | {_fmt(s['p99_ms'])} | {_fmt(s.get('cpu_ms_per_request'))} |"
        )
    iso = data.get("isolation") or {}
    if iso:
        short = {k: k.removeprefix("isolation_") for k in iso["cores_busy"]}
        busy = ", ".join(f"{short[k]} {_fmt(load.median(v))}" for k, v in iso["cores_busy"].items())
        bursts = ", ".join(f"{short[k]} {v}" for k, v in iso["bursts"].items() if v)
        lines += [
            "",
            f"Isolation: {data['setup']['connections']} connections of steady checkouts with "
            f"{iso['think_ms']} ms think time (about half the measured hybrid capacity), alone "
            f"or beside back-to-back bursts of {data['setup']['storm_size']} requests ({bursts}); "
            f"server cores busy, median: {busy}.",
        ]
    lines += [
        "",
        "| Target | judged on | value | bound | met | the other measure |",
        "|---|---|--:|--:|---|--:|",
    ]
    for t in data["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        note = f" ({t['note']})" if t["note"] else ""
        # Runs before the targets named their basis judged on req/s, with CPU beside.
        basis = t.get("basis", "req/s")
        also = t.get("also", t.get("by_cpu"))
        lines.append(
            f"| {t['target']}{note} | {basis} | {_fmt(t['value'])} | {t['bound']} | {met} | "
            f"{'–' if also is None else _fmt(also)} |"
        )
    r = data["ratios"]
    guarded = ", ".join(f"{k} {_fmt(v)}" for k, v in r["guarded_vs_unguarded"].items())
    lines += [
        "",
        f"Ratios: guarded/unguarded {guarded}; replay/ceiling {_fmt(r['replay_vs_ceiling'])}; "
        f"create/ceiling {_fmt(r['create_vs_ceiling'])}; growth {_fmt(r['growth_1m_vs_0'])}; "
        f"isolation {_fmt(r['isolation_storm_vs_none'])}; database replay/ceiling "
        f"{_fmt(r['replay_db_vs_ceiling'])}; isolation storm/spread "
        f"{_fmt(r['isolation_storm_vs_spread'])}; hybrid/floor create "
        f"{_fmt(r['create_vs_floor'])}, replay {_fmt(r['replay_vs_floor'])}"
        + (f"; API/HTML form {_fmt(r['html_vs_api'])}." if "html_vs_api" in r else "."),
    ]
    c = data["ratios_by_server_cpu"]
    guarded = ", ".join(f"{k} {_fmt(v)}" for k, v in c["guarded_vs_unguarded"].items())
    lines += [
        "",
        f"The same from server CPU per request (less disturbed by other load): guarded/unguarded "
        f"{guarded}; replay/ceiling {_fmt(c['replay_vs_ceiling'])}; create/ceiling "
        f"{_fmt(c['create_vs_ceiling'])}; growth CPU {_fmt(c['growth_1m_vs_0'])}; hybrid/floor "
        f"create {_fmt(c['create_vs_floor'])}, replay {_fmt(c['replay_vs_floor'])}"
        + (f"; HTML form/API {_fmt(c['html_vs_api'])}." if "html_vs_api" in c else "."),
    ]
    lines += [f"\n- {n}" for n in data["notes"]]
    return "\n".join(lines) + "\n"


def write(bench: Bench, profile: Profile, out: Path, elapsed: float, machine: dict) -> list[Path]:
    data = build(bench, profile, elapsed, machine)
    out.mkdir(parents=True, exist_ok=True)
    stem = "latest" if profile.mode == "full" else "quick"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown(data))
    if profile.mode != "full":
        return [json_path, md_path]
    readme = Path(__file__).with_name("README.md")
    readme.write_text(embed_results(readme.read_text(), markdown(data)))
    return [json_path, md_path, readme]


RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"


def embed_results(readme: str, report: str) -> str:
    """Put a full run's report (``markdown(data)``) between the markers of bench/README.md.

    The report's own top heading is dropped (the README has its own). Everything outside the
    markers is left as written by hand.

    :raise ValueError: the README lacks either marker.
    """
    start, end = readme.index(RESULTS_START), readme.index(RESULTS_END)
    body = report.split("\n", 1)[1].strip("\n")
    return f"{readme[: start + len(RESULTS_START)]}\n{body}\n{readme[end:]}"
