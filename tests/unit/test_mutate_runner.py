"""``make mutate`` runs the suite in a copy of the tree: the copy must hold what the suite needs.

The copy is built from git's list of files (``mutate.run.tracked_files``). Here it is built
for real and pytest collects the whole suite in it, so a file or folder the suite starts
to read (the translations, say) cannot break ``make mutate`` unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys

from mutate.run import ROOT, copy_tree, tracked_files


def test_the_copy_holds_every_tracked_file(tmp_path):
    copy_tree(tmp_path)
    copied = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    tracked = set(tracked_files())
    assert tracked <= copied
    # What the suite reads besides Python: templates, migrations, catalogs, static files.
    for needed in (
        "pyproject.toml",
        "migrations/env.py",
        "templates/base.html",
        "translations/id/LC_MESSAGES/messages.po",
        "static/favicon.ico",
        "tests/conftest.py",
    ):
        assert needed in tracked, needed


def test_pytest_collects_the_whole_suite_in_the_copy(tmp_path):
    copy_tree(tmp_path)
    # The copy's own code, never this working tree's (as mutate/run.py checks too).
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    test_files = {
        name
        for name in tracked_files()
        if name.startswith("tests/") and name.rsplit("/", 1)[-1].startswith("test_")
    }
    assert test_files <= collected
    assert str(ROOT) not in done.stdout
