"""The ``Idempotency-Key`` request header, read as the IETF draft defines it.

The draft (draft-ietf-httpapi-idempotency-key-header) makes the field an
RFC 8941 Structured Field Item whose value is an sf-string: ``"q\\"x-1"`` means
the key ``q"x-1``, the same key a body's ``"idempotency_key": "q\\"x-1"`` sends.
Parsing the quoted form is left to ``http-sf`` (Mark Nottingham's parser, which
follows RFC 8941/9651 and its test suite). A bare value, as clients sent before
the draft (``abc``, a UUID such as ``123e4567-e89b-...``, base64 with ``=``), stays
accepted as the key itself when it cannot be mistaken for a list or parameters.
"""

from __future__ import annotations

import re

import http_sf
from werkzeug.datastructures import Headers

from app.payments.requests import MAX_KEY_LENGTH

HEADER = "Idempotency-Key"

# One character of a key: bare, printable ASCII without space, DQUOTE, comma (a list),
# semicolon (parameters) or backslash; quoted (an sf-string), printable ASCII with DQUOTE
# and backslash escaped.
_BARE_CHAR = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]"
_QUOTED_CHAR = r'(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])'
#: The whole field: one key of 1 to MAX_KEY_LENGTH characters, bare or quoted, between
#: optional spaces and tabs. The server refuses anything else; the OpenAPI document
#: publishes this pattern.
HEADER_PATTERN = (
    rf'[ \t]*(?:{_BARE_CHAR}{{1,{MAX_KEY_LENGTH}}}|"{_QUOTED_CHAR}{{1,{MAX_KEY_LENGTH}}}")[ \t]*'
)

FORMS = (
    'Send one key as a quoted string (Idempotency-Key: "abc-123", escaping " and \\ '
    "with a backslash) or bare (Idempotency-Key: abc-123), once, without parameters."
)


class MalformedKeyHeader(ValueError):
    """The field is not one key: several values, a list, parameters, or broken quoting."""


def header_key(headers: Headers) -> str | None:
    """The key the ``Idempotency-Key`` field carries, unescaped; None when it is absent.

    The key's own rules (length, printable ASCII) are checked later with the body's.

    :raise MalformedKeyHeader: anything but exactly one sf-string or one bare key.
    """
    values = headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise MalformedKeyHeader(f"The {HEADER} header was sent {len(values)} times. {FORMS}")
    text = values[0].strip(" \t")
    if text.startswith('"'):
        return _sf_string(text)
    if not re.fullmatch(f"{_BARE_CHAR}+", text):
        raise MalformedKeyHeader(f"The {HEADER} header is not one key. {FORMS}")
    return text


def _sf_string(text: str) -> str:
    try:
        value, params = http_sf.parse(text.encode("ascii"), tltype="item")
    except (UnicodeEncodeError, ValueError):
        # ValueError covers http_sf's StructuredFieldError: trailing members, bad escapes.
        raise MalformedKeyHeader(f"The {HEADER} header is not one quoted key. {FORMS}") from None
    if params:
        raise MalformedKeyHeader(f"The {HEADER} header has parameters. {FORMS}")
    return value
