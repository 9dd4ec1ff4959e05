"""The curated mutant list (mutate/mutants.py) still matches the code it mutates."""

from __future__ import annotations

from mutate.mutants import MUTANTS
from mutate.run import check_snippets


def test_every_mutants_snippet_is_in_its_file_exactly_once():
    assert check_snippets() == []


def test_the_checker_notices_a_stale_snippet():
    stale = MUTANTS[0].__class__(
        "stale", "app/payments/service.py", "no such code", "x", "", ("t",)
    )
    assert check_snippets([stale]) == [
        "stale: its snippet is found 0 times in app/payments/service.py"
    ]


def test_every_mutant_names_tests_that_exist():
    from mutate.run import ROOT

    for mutant in MUTANTS:
        for target in mutant.tests:
            path, _, node = target.partition("::")
            function = node.split("[")[0]
            source = (ROOT / path).read_text()
            assert not function or f"def {function}(" in source, (mutant.name, target)
