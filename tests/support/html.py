"""Reading the pages' HTML in tests without a browser."""

from __future__ import annotations

from html.parser import HTMLParser


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.hidden.setdefault(attributes["name"], attributes.get("value") or "")


def hidden_inputs(html: str) -> dict[str, str]:
    """The first value of each hidden input, by name (one request renders one CSRF token)."""
    parser = _Inputs()
    parser.feed(html)
    return parser.hidden
