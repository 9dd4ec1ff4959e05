"""Generated bad input: a JSON-values strategy, and how many generated cases ran this session
(printed in pytest's terminal summary)."""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st

CASES: Counter[str] = Counter()

#: Any JSON value, small: null, booleans, integers, short strings, lists and objects of them.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


def count_case(suite: str) -> None:
    """Record one generated case of ``suite`` (a short name such as ``api-amount``)."""
    CASES[suite] += 1
