"""axe-core in Chromium: every patient page is checked for serious or critical violations.

``vendor/axe.min.js`` is the npm package's ``axe.min.js``, version ``AXE_VERSION`` (Deque
Systems, MPL-2.0: its licence header kept, the full text in ``vendor/axe-core.LICENSE``),
vendored so the suite runs offline. To update it: ``npm pack axe-core@4``, extract
``package/axe.min.js`` over it, and change ``AXE_VERSION``.

The file is served to the page from the page's own origin by a Playwright route, so it
runs under the app's real Content-Security-Policy (``script-src 'self'``): no
``bypass_csp`` is needed, and a CSP regression still shows in the same tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
AXE_FILE = Path(__file__).with_name("vendor") / "axe.min.js"
AXE_PATH = "/__test-only__/axe-core.js"
# What fails a test: axe's two highest impacts.
FAILING_IMPACTS = ("serious", "critical")


def _serve_axe(page: Page) -> None:
    if getattr(page, "_axe_routed", False):
        return
    with AXE_FILE.open(encoding="utf-8") as vendored:
        assert vendored.read(20).startswith(f"/*! axe v{AXE_VERSION}"), "not the pinned axe-core"
    page.route(
        f"**{AXE_PATH}",
        lambda route: route.fulfill(path=str(AXE_FILE), content_type="application/javascript"),
    )
    page._axe_routed = True  # type: ignore[attr-defined]


def violations(page: Page) -> list[dict]:
    """axe's serious and critical violations on the page as it is now (WCAG 2.x A and AA)."""
    _serve_axe(page)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_PATH)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in FAILING_IMPACTS]


def assert_accessible(page: Page, what: str = "") -> None:
    """No serious or critical axe violation on the page; the message lists them."""
    found = violations(page)
    assert not found, f"axe on {what or page.url}:\n{json.dumps(found, indent=1)}"
