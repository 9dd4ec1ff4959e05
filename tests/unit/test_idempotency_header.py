"""The Idempotency-Key header as an RFC 8941 sf-string, a bare key, or not one key (400)."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from app.api.keys import MalformedKeyHeader, header_key


def read(*values: str) -> str | None:
    return header_key(Headers([("Idempotency-Key", v) for v in values]))


@pytest.mark.parametrize(
    ("sent", "key"),
    [
        ('"abc-123"', "abc-123"),
        (r'"q\"x-1"', 'q"x-1'),
        (r'"back\\slash"', "back\\slash"),
        ('"with space"', "with space"),
        ('  "padded"  ', "padded"),
        ('""', ""),  # one key, empty: the key rules refuse it later (422)
        ("abc-123", "abc-123"),
        ("123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"),
        ("c2VjcmV0+/==", "c2VjcmV0+/=="),
        ("urn:key/1.2*x", "urn:key/1.2*x"),
    ],
)
def test_one_key_is_read_and_unescaped(sent, key):
    assert read(sent) == key


@pytest.mark.parametrize(
    "sent",
    [
        '"a", "b"',  # a list
        "a, b",
        '"a";p=1',  # parameters
        "a;p=1",
        '"unterminated',
        r'"bad \x escape"',
        '"a" trailing',
        "two words",
        'bare"quote',
        "back\\slash",
        '"caf\xe9"',  # latin-1 as the server decodes a non-ASCII byte
        "",
        "   ",
    ],
)
def test_anything_but_one_key_is_malformed(sent):
    with pytest.raises(MalformedKeyHeader):
        read(sent)


def test_the_header_sent_twice_is_malformed():
    with pytest.raises(MalformedKeyHeader, match="2 times"):
        read("a", "b")


def test_no_header_is_no_key():
    assert read() is None
