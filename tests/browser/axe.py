"""axe-core accessibility checks for Playwright pages.

The rules engine is vendored, not fetched: ``tests/support/vendor/axe.min.js`` is axe-core
4.14.1 (npm, MPL-2.0; its license header is kept at the top of the file, the full text in
``axe-core.LICENSE``). To update: ``npm pack axe-core@4``, extract ``package/axe.min.js``
over it, and change ``AXE_VERSION``.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
AXE_JS = Path(__file__).resolve().parents[1] / "support" / "vendor" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")


def _axe_source() -> str:
    source = AXE_JS.read_text(encoding="utf-8")
    assert source.startswith(f"/*! axe v{AXE_VERSION}"), "vendored axe-core is not the pinned one"
    return source


def assert_no_serious_axe_violations(page: Page) -> list[dict]:
    """Run axe-core on the page as it is now; fail on any serious or critical violation.

    Returns every violation found (the minor and moderate ones too), for a report.
    The script runs through the DevTools protocol (``page.evaluate`` of its source), which
    the page's Content-Security-Policy does not govern, so the page is checked as served.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    serious = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not serious, f"axe-core on {page.url}:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} at {v['targets']}" for v in serious
    )
    return violations
