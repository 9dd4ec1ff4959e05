"""The README and docs/ stand alone: every relative link resolves, nothing points outside the repo.

Anchors follow GitHub's heading slugs (lower case, punctuation dropped, spaces to hyphens,
``-1``, ``-2`` … for repeats). The benchmark's results in bench/README.md are the ones its
last full run wrote, not a hand-made copy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slugs(markdown: str) -> set[str]:
    """GitHub's anchors for every heading of a Markdown page."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [a or b for a, b in LINK.findall(text)]


def test_the_slug_rule_matches_githubs():
    assert slugs("## `POST /api/v1/payments`\n## The seed's four solutions (`PAYMENT_GUARD`)") == {
        "post-apiv1payments",
        "the-seeds-four-solutions-payment_guard",
    }
    assert slugs("## Tests\n### Tests") == {"tests", "tests-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if ROOT not in file.parents and file != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in slugs(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_mentions_files_outside_the_repository(page):
    outside = "/".join(("..", "shared"))  # spelled in parts so this file names no outside path
    assert outside not in page.read_text()


def test_the_readme_stays_short_and_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_500
    first_screen = "\n".join(readme.splitlines()[:30])
    assert "make dev" in first_screen and "make test" in first_screen


def test_bench_readme_shows_the_results_of_the_last_full_run():
    from bench.report import RESULTS_END, RESULTS_START, embed_results, markdown

    readme = (ROOT / "bench" / "README.md").read_text()
    data = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    assert RESULTS_START in readme and RESULTS_END in readme
    assert embed_results(readme, markdown(data)) == readme
