"""``make mutate``: apply each curated mutant (mutate/mutants.py) and run the tests that must kill it.

Each mutant is applied in one temporary copy of the tree (every file git tracks or would
track, ``tracked_files``; the working tree is never touched), its tests run with ``pytest -x -q`` against one throwaway PostgreSQL and Redis
started here for the whole run (the suite's own ``tests/support/services.py``), and the
file is restored before the next mutant. Exit status 1 when any mutant survives, a
snippet is missing, or the unmutated tree fails the tests.

    python -m mutate.run                 # every mutant
    python -m mutate.run finish.any_user lock.not_taken   # some, by name
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutate.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parent.parent


def check_snippets(mutants=MUTANTS, root: Path = ROOT) -> list[str]:
    """Problems with the list: a snippet not found exactly once, a duplicate name."""
    problems = []
    names = [m.name for m in mutants]
    problems += [
        f"duplicate mutant name {n}" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    for m in mutants:
        count = (root / m.file).read_text().count(m.original)
        if count != 1:
            problems.append(f"{m.name}: its snippet is found {count} times in {m.file}")
        if m.original == m.replacement:
            problems.append(f"{m.name}: the replacement changes nothing")
        if not m.tests:
            problems.append(f"{m.name}: names no tests")
    return problems


def tracked_files(root: Path = ROOT) -> list[str]:
    """The working tree's files as git sees them: tracked, plus new ones not ignored (a file
    not yet added is part of the code being tested). Paths relative to ``root``; files
    deleted from the working tree are left out. Built from git rather than a list of
    folders, so a new folder (``translations/``, say) is copied without anyone noticing."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def copy_tree(target: Path, root: Path = ROOT) -> None:
    """Copy ``tracked_files`` of ``root`` into ``target`` (which may exist)."""
    for name in tracked_files(root):
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, destination)


def _pytest(tree: Path, tests, env) -> tuple[int, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _first_error(output: str) -> str:
    """The first assertion line pytest printed (``E   ...``): why the mutant was killed."""
    return next((line for line in output.splitlines() if line.startswith("E ")), "")


def _apply(tree: Path, mutant: Mutant) -> str:
    path = tree / mutant.file
    original = path.read_text()
    path.write_text(original.replace(mutant.original, mutant.replacement, 1))
    return original


def main(argv: list[str]) -> int:
    mutants = [m for m in MUTANTS if not argv or m.name in argv]
    unknown = set(argv) - {m.name for m in MUTANTS}
    problems = check_snippets() + [f"no mutant named {n}" for n in sorted(unknown)]
    if problems:
        print("mutate: the mutant list does not match the code:", *problems, sep="\n  ")
        return 1
    sys.path.insert(0, str(ROOT))
    from tests.support.services import PostgresServer, RedisServer

    started = time.monotonic()
    postgres, redis = PostgresServer().start(), RedisServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
            tree = Path(tmp)
            copy_tree(tree)
            env = {
                **os.environ,
                "TEST_DATABASE_URL": postgres.url,
                "TEST_REDIS_URL": redis.url,
                "PYTHONDONTWRITEBYTECODE": "1",
                "HYPOTHESIS_PROFILE": "ci",
            }
            return _run(tree, mutants, env, started)
    finally:
        redis.stop()
        postgres.destroy()


def _copy_import_problem(tree: Path, env: dict) -> str | None:
    """Why the copy's ``app`` is not the one Python imports there (the editable install's
    working tree, or an import error), or None when it is."""
    probe = [sys.executable, "-c", "import app; print(app.__file__)"]
    done = subprocess.run(probe, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return f"`import app` fails in the copy:\n{done.stderr[-2000:]}"
    if not Path(done.stdout.strip()).is_relative_to(tree.resolve()):
        return f"Python in the copy imports app from {done.stdout.strip()}; mutants would not apply"
    return None


def _run(tree: Path, mutants: list[Mutant], env: dict, started: float) -> int:
    problem = _copy_import_problem(tree, env)
    if problem:
        print(f"mutate: {problem}")
        return 1
    every_test = sorted({t for m in mutants for t in m.tests})
    code, output = _pytest(tree, every_test, env)
    if code != 0:
        print(output[-4000:])
        print("mutate: the tests fail on the unmutated code; fix that first")
        return 1
    print(
        f"baseline: {len(every_test)} test targets pass on the unmutated code ({_last_line(output)})"
    )
    survived, broken = [], []
    for number, mutant in enumerate(mutants, 1):
        t0 = time.monotonic()
        original = _apply(tree, mutant)
        try:
            code, output = _pytest(tree, mutant.tests, env)
        finally:
            (tree / mutant.file).write_text(original)
        if code == 1:
            verdict = "killed"
        elif code == 0:
            verdict = "SURVIVED"
            survived.append(mutant)
        else:  # collection or import error: the mutant broke Python, not a guard
            verdict = f"ERROR (pytest exit {code})"
            broken.append(mutant)
            print(output[-2000:])
        took = time.monotonic() - t0
        print(f"[{number:2}/{len(mutants)}] {verdict:8} {mutant.name:42} {took:5.1f}s", flush=True)
        print(f"        {mutant.description}", flush=True)
        if code == 1 and os.environ.get("MUTATE_VERBOSE"):
            print(f"        {_last_line(output)}\n        {_first_error(output)}", flush=True)
    killed = len(mutants) - len(survived) - len(broken)
    minutes = (time.monotonic() - started) / 60
    print(
        f"\nmutation score: {killed}/{len(mutants)} killed ({100 * killed / len(mutants):.0f}%) in {minutes:.1f} min"
    )
    for mutant in survived:
        print(f"  survived: {mutant.name} ({mutant.file}): {mutant.description}")
    for mutant in broken:
        print(f"  error: {mutant.name}: the mutated code did not run; fix the mutant")
    return 0 if not survived and not broken else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
