"""How many generated bad-input cases ran this session (printed in pytest's terminal summary)."""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()


def count_case(suite: str) -> None:
    """Record one generated case of ``suite`` (a short name such as ``api-amount``)."""
    CASES[suite] += 1
