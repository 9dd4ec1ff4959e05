"""The ``staff_scale`` scenario: the staff invoice pages on a database of many invoices.

A slot in ``make bench`` (bench/run.py ``phase_staff_scale``, bench/report.py ``targets``):
``phase`` measures and stores its figures in ``bench.extra["staff_scale"]``, after the main
scenarios' servers have stopped; ``targets`` turns them into rows of the report's target
table (``bench.model.target``). This placeholder measures nothing and has no targets yet.
"""

from __future__ import annotations

from typing import Any

from bench.model import Bench
from bench.stack import Stack


def phase(bench: Bench, stack: Stack) -> None:
    """Measure, and store the results in ``bench.extra["staff_scale"]`` (nothing yet)."""


def targets(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the target table from ``bench.extra["staff_scale"]`` (none yet)."""
    return []
