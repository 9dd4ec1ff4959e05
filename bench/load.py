"""Load generators: wrk (with bench/lua scripts) for throughput, an asyncio client for storms.

The same wrk binary, thread count and connection count drive every throughput
scenario, so its own CPU use (measured and reported) is the same handicap for
each and the ratios compare like with like.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import tree_cpu_seconds

LUA_DIR = Path(__file__).resolve().parent / "lua"
WRK_THREADS = 1
WRK_TIMEOUT = "10s"


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class WrkResult:
    """One wrk run, in the units the report uses (requests/s, milliseconds)."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    socket_errors: int
    replayed: int
    wrapped: int
    generator_cpu_s: float
    machine_busy_s: float
    server_cpu_s: float = 0.0  # gunicorn + PostgreSQL + Redis, see bench/cpu.py

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def count(self, *codes: int) -> int:
        return sum(self.statuses.get(str(c), 0) for c in codes)

    def errors(self, ok: tuple[int, ...]) -> int:
        """Responses with an unexpected status, plus connection errors and timeouts."""
        return self.requests - self.count(*ok) + self.socket_errors

    def cpu_ms_per_request(self) -> float | None:
        return (
            1000 * self.server_cpu_s / self.requests
            if self.requests and self.server_cpu_s
            else None
        )

    def generator_share(self) -> float | None:
        return self.generator_cpu_s / self.machine_busy_s if self.machine_busy_s > 0 else None


def wrk_command(
    url: str, script: str, args: list[Any], *, connections: int, seconds: float
) -> list[str]:
    return [
        wrk_binary(),
        "-t",
        str(WRK_THREADS),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(LUA_DIR / script),
        url,
        "--",
        *[str(a) for a in args],
    ]


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError(
            "wrk is not installed: run `make bench` (it installs it) or apt-get install wrk"
        )
    return found


def _wrk_env(think_ms: int) -> dict[str, str]:
    return {**os.environ, "BENCH_LUA_DIR": str(LUA_DIR), "BENCH_THINK_MS": str(think_ms)}


def _parse(stdout: str, stderr: str, cpu: float, busy: float, server_cpu: float) -> WrkResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout}\n{stderr}")
    raw = json.loads(line[len("BENCH_JSON ") :])
    return WrkResult(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        statuses={str(k): int(v) for k, v in raw["statuses"].items()},
        socket_errors=int(raw["socket_errors"]),
        replayed=int(raw["replayed"]),
        wrapped=int(raw["wrapped"]),
        generator_cpu_s=cpu,
        machine_busy_s=busy,
        server_cpu_s=server_cpu,
    )


def run_wrk(
    url: str,
    script: str,
    args: list[Any],
    *,
    connections: int,
    seconds: float,
    think_ms: int = 0,
    cpu_roots: list[int] | None = None,
) -> WrkResult:
    """Run wrk; with ``cpu_roots``, also measure the server side's CPU seconds."""
    cpu0, busy0 = _children_cpu(), machine_busy_seconds()
    server0 = tree_cpu_seconds(cpu_roots) if cpu_roots else 0.0
    proc = subprocess.run(
        wrk_command(url, script, args, connections=connections, seconds=seconds),
        capture_output=True,
        text=True,
        env=_wrk_env(think_ms),
        timeout=seconds + 60,
    )
    cpu, busy = _children_cpu() - cpu0, machine_busy_seconds() - busy0
    server = tree_cpu_seconds(cpu_roots) - server0 if cpu_roots else 0.0
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return _parse(proc.stdout, proc.stderr, cpu, busy, server)


async def run_wrk_async(
    url: str,
    script: str,
    args: list[Any],
    *,
    connections: int,
    seconds: float,
    think_ms: int = 0,
    cpu_roots: list[int] | None = None,
) -> WrkResult:
    """run_wrk in the event loop, so storms can run beside it (the isolation scenario)."""
    cpu0, busy0 = _children_cpu(), machine_busy_seconds()
    server0 = tree_cpu_seconds(cpu_roots) if cpu_roots else 0.0
    proc = await asyncio.create_subprocess_exec(
        *wrk_command(url, script, args, connections=connections, seconds=seconds),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_wrk_env(think_ms),
    )
    out, err = await proc.communicate()
    cpu, busy = _children_cpu() - cpu0, machine_busy_seconds() - busy0
    server = tree_cpu_seconds(cpu_roots) - server0 if cpu_roots else 0.0
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out.decode()}\n{err.decode()}")
    return _parse(out.decode(), err.decode(), cpu, busy, server)


# --- storms ------------------------------------------------------------------------------


@dataclass
class StormResult:
    """One or more storms: every request's status (0 = no answer) and latency."""

    statuses: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu_s: float = 0.0  # gunicorn + PostgreSQL + Redis, when measured (cpu_roots)

    def extend(self, other: StormResult) -> None:
        self.statuses.extend(other.statuses)
        self.latencies_ms.extend(other.latencies_ms)
        self.seconds += other.seconds
        self.server_cpu_s += other.server_cpu_s

    def cpu_ms_per_request(self) -> float | None:
        """Server CPU per request sent, as ``WrkResult.cpu_ms_per_request``."""
        if not self.statuses or not self.server_cpu_s:
            return None
        return 1000 * self.server_cpu_s / len(self.statuses)

    def histogram(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status in self.statuses:
            out[str(status)] = out.get(str(status), 0) + 1
        return dict(sorted(out.items()))

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _payment_request(host: str, port: int, consultation_id: int, key: str) -> bytes:
    body = json.dumps({"consultation_id": consultation_id, "payment_method": "gcash"})
    head = (
        f"POST /api/v1/payments HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer cck_bench_{consultation_id}\r\n"
        f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body.encode()


class _StartingGun:
    """A barrier for coroutines: every request connects first, then all are sent at once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.all_connected = asyncio.Event()
        self.go = asyncio.Event()

    async def arrive_and_wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.n:
            self.all_connected.set()
        await self.go.wait()


async def _one(host: str, port: int, payload: bytes, gun: _StartingGun, timeout: float):
    """Connect, wait for the starting gun, send, and time until the whole answer is read."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        await gun.arrive_and_wait()
        return 0, 0.0
    await gun.arrive_and_wait()
    started = time.perf_counter()
    try:
        writer.write(payload)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
        status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    except (OSError, TimeoutError, ValueError, IndexError):
        status = 0
    finally:
        writer.close()
    return status, (time.perf_counter() - started) * 1000


async def storm(
    host: str,
    port: int,
    consultations: list[int],
    key_tag: str,
    timeout: float = 30.0,
    cpu_roots: list[int] | None = None,
) -> StormResult:
    """One request per entry of ``consultations`` (the same id 200 times for a storm), each
    with its own key, all connected first and then sent together.

    A request that gets no HTTP answer (refused, reset, timed out) is recorded as status 0.
    With ``cpu_roots``, also the server side's CPU seconds from the first connection to the
    last answer (each request opens its own connection, so accepting it is part of its cost).
    """
    server0 = tree_cpu_seconds(cpu_roots) if cpu_roots else 0.0
    gun = _StartingGun(len(consultations))
    tasks = [
        asyncio.create_task(
            _one(host, port, _payment_request(host, port, cid, f"{key_tag}-{i}"), gun, timeout)
        )
        for i, cid in enumerate(consultations)
    ]
    await gun.all_connected.wait()
    started = time.perf_counter()
    gun.go.set()
    answers = await asyncio.gather(*tasks)
    result = StormResult(seconds=time.perf_counter() - started)
    if cpu_roots:
        result.server_cpu_s = tree_cpu_seconds(cpu_roots) - server0
    for status, ms in answers:
        result.statuses.append(status)
        result.latencies_ms.append(ms)
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
