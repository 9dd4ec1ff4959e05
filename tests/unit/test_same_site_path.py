"""Where a ``next=`` (login, the language switch, htmx's current page) may send the browser."""

from __future__ import annotations

import pytest

from app.htmx import same_site_path


@pytest.mark.parametrize(
    ("target", "host", "expected"),
    [
        ("/payments/3?x=1", None, "/payments/3?x=1"),
        ("/staff/invoices", "clinic.example", "/staff/invoices"),
        (
            "https://clinic.example/staff/invoices?page=2",
            "clinic.example",
            "/staff/invoices?page=2",
        ),
        ("https://evil.example/x", "clinic.example", None),
        ("https://clinic.example/x", None, None),  # a full URL needs the request's host
        ("//evil.example/x", None, None),
        ("/\\evil.example", None, None),  # browsers read the backslash as a slash
        ("https://clinic.example/\\evil.example", "clinic.example", None),
        ("javascript:alert(1)", None, None),
        ("payments/3", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_only_a_path_on_this_site_is_a_place_to_go_back_to(target, host, expected):
    assert same_site_path(target, host) == expected
