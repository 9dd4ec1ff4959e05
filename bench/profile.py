"""Profile one scenario's server side with py-spy (``pip install py-spy``; not a dependency).

    .venv/bin/python -m bench.profile --guard hybrid --scenario create --seconds 15

Starts the same stack as ``bench.run`` (one server), drives the scenario with
wrk while ``py-spy record --subprocesses`` samples every gunicorn worker, then
prints the functions with the most samples (inclusive and self) and writes the
collapsed stacks next to them for a flame graph.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, seed  # noqa: E402
from bench.stack import Stack  # noqa: E402
from tests.support.storm import post_json  # noqa: E402


def summarize(collapsed: Path, top: int = 25) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a wrapped line of a frame name with spaces in it
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    out += ["", "self:"]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guard", default="hybrid")
    parser.add_argument("--scenario", choices=("create", "replay", "ceiling"), default="create")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "profile")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.out.mkdir(parents=True, exist_ok=True)
    stack = Stack.start()
    try:
        stack.create_database("bench_profile")
        stack.migrate("bench_profile")
        with stack.connect("bench_profile") as conn:
            seed.seed_patients(conn, 60_000)
        server = stack.serve("bench_profile", args.guard)
        stack.start_servers([server])
        stack.wait_ready([server])
        load.run_wrk(
            server.url, "create.lua", [50_001, 10_000, 1, "warm"], connections=8, seconds=2
        )
        if args.scenario == "replay":
            post_json(
                server.url + "/api/v1/payments",
                {"consultation_id": 1, "payment_method": "gcash"},
                {"Authorization": "Bearer " + seed.token_for(1), "Idempotency-Key": "k"},
            )
            script, wrk_args = "replay.lua", [1, "k"]
        elif args.scenario == "ceiling":
            script, wrk_args = "healthz.lua", []
        else:
            script, wrk_args = "create.lua", [2, 48_000, 1, "prof"]
        collapsed = args.out / f"{args.guard}-{args.scenario}.collapsed"
        spy = subprocess.Popen(
            [
                pyspy,
                "record",
                "--pid",
                str(server.proc.pid),
                "--subprocesses",
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--duration",
                str(int(args.seconds)),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)  # py-spy attaches to every worker before the load starts
        result = load.run_wrk(server.url, script, wrk_args, connections=8, seconds=args.seconds - 2)
        spy.wait(60)
        print(
            f"{args.scenario} on {args.guard}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms"
            f", statuses {result.statuses}"
        )
        summary = summarize(collapsed)
        (args.out / f"{args.guard}-{args.scenario}.txt").write_text(summary)
        print(summary)
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
