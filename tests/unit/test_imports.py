"""Every module of the app imports on its own, first, in a fresh interpreter.

The app's own start-up imports its packages in one order; a worker, a CLI command, a
benchmark or a test may import any module first. An import cycle that only that order
hides (the settings importing the guards, the guards the models, the models the
translations, the translations the settings) breaks them all: this finds each one.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def app_modules() -> list[str]:
    names = []
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_alone(module: str) -> str | None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=APP.parent,
    )
    if done.returncode == 0:
        return None
    return f"{module}: {done.stderr.strip().splitlines()[-1]}"


def test_every_app_module_imports_first():
    modules = app_modules()
    assert len(modules) > 40 and "app.payments.service" in modules
    with ThreadPoolExecutor(4) as pool:
        failures = [f for f in pool.map(import_alone, modules) if f]
    assert failures == []
