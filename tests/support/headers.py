"""The security headers every response must carry, and the CSP's consequence for HTML."""

from __future__ import annotations

import re

# Inline code the CSP would block in the browser: a <script> with a body, <style>, style=
# attributes and on*= handlers. Pages must not rely on any of them.
_INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>\s*\S|<style[\s>]|\sstyle=|\son[a-z]+=", re.IGNORECASE
)


def csp_directives(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    parts = (p.strip().split(None, 1) for p in policy.split(";") if p.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def assert_security_headers(response) -> None:
    """Raise AssertionError unless ``response`` carries the app's security headers."""
    csp = csp_directives(response)
    assert csp.get("script-src") == "'self'", csp
    assert csp.get("frame-ancestors") == "'none'", csp
    assert "unsafe-inline" not in csp.get("style-src", ""), csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin"
    assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin"
    permissions = response.headers.get("Permissions-Policy", "")
    assert "camera=()" in permissions and "geolocation=()" in permissions, permissions
    if response.mimetype == "text/html":
        inline = _INLINE.search(response.get_data(as_text=True))
        assert inline is None, f"inline code the CSP blocks: {inline.group(0)!r}"
