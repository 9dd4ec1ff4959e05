"""The OpenAPI document's field rules are the server's: a value is schema-valid exactly when
the server's own check accepts it (no database: the checks are pure).

Schema-valid values the server refused (``amount: ""``, an empty Idempotency-Key, ``transaction_id:
""``, a reason with a tab) and schema-invalid ones it accepted (a 501-character reason starting
with a space, U+0085 in a reason) are among the named values."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from app.api.keys import HEADER, MalformedKeyHeader, header_key
from app.api.openapi import document
from app.payments.errors import InvalidPaymentRequest
from app.payments.requests import (
    parse_confirm_request,
    parse_payment_request,
    parse_refund_reason,
)

SCHEMAS = document()["components"]["schemas"]
CREATE = document()["paths"]["/api/v1/payments"]["post"]


def schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    value = json.loads(json.dumps(value))
    # jsonschema-rs reads patterns as ECMA-262 regexes, as JSON Schema says (Python's re,
    # which the jsonschema package uses, lets "$" match before a final newline).
    return jsonschema_rs.Draft202012Validator(schema).is_valid(value)


def server_accepts(check, *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except (InvalidPaymentRequest, MalformedKeyHeader):
        return False
    return True


def reason_ok(value: Any) -> bool:
    return server_accepts(parse_refund_reason, value)


def transaction_ok(value: Any) -> bool:
    return server_accepts(parse_confirm_request, transaction_id=value)


def receipt_ok(value: Any) -> bool:
    return server_accepts(parse_confirm_request, transaction_id="txn_1", receipt_url=value)


def key_ok(value: Any) -> bool:
    return server_accepts(
        parse_payment_request, consultation_id=1, payment_method="gcash", idempotency_key=value
    )


def amount_ok(value: Any) -> bool:
    # As the API reads a JSON body: numbers as Decimal.
    sent = json.loads(json.dumps(value), parse_float=Decimal)
    return server_accepts(
        parse_payment_request, consultation_id=1, payment_method="gcash", amount=sent
    )


def carried_by_http(value: str) -> bool:
    """What a header can carry at all: Latin-1 text without CR, LF or NUL (RFC 9110, 5.5)."""
    return not {"\r", "\n", "\x00"} & set(value) and max(map(ord, value), default=0) < 256


def version_ok(value: Any) -> bool:
    sent = json.loads(json.dumps(value), parse_float=Decimal)
    return server_accepts(parse_confirm_request, transaction_id="txn_1", expected_version=sent)


def header_ok(value: str) -> bool:

    def check():
        key = header_key(Headers([(HEADER, value)]))
        parse_payment_request(consultation_id=1, payment_method="gcash", header_idempotency_key=key)

    return server_accepts(check)


FIELDS = {
    "reason": (SCHEMAS["Refund"]["properties"]["reason"], reason_ok),
    "transaction_id": (SCHEMAS["Confirm"]["properties"]["transaction_id"], transaction_ok),
    "receipt_url": (SCHEMAS["Confirm"]["properties"]["receipt_url"], receipt_ok),
    "idempotency_key": (SCHEMAS["CreatePayment"]["properties"]["idempotency_key"], key_ok),
    "amount": (SCHEMAS["CreatePayment"]["properties"]["amount"], amount_ok),
    "expected_version": (SCHEMAS["Confirm"]["properties"]["expected_version"], version_ok),
    HEADER: (CREATE["parameters"][0]["schema"], header_ok),
}

# Values the document allowed and the server refused, or the reverse, and their neighbours.
NAMED = {
    "reason": [
        "Doctor unavailable",
        "",
        " ",
        "a\tb",
        "a\nb",
        "a\u0085b",
        "\u00a0",
        " " + "x" * 499,
        " " + "x" * 500,
        "x" * 500,
        "\u3000x\u3000",
        "\ufeff",
        "a\x7f",
        "a\x9f",
        "a\xa0b",
    ],
    "transaction_id": ["txn_1", "", "txn_1\n", " txn", "t" * 255, "t" * 256, "_x", "a:b-c.d"],
    "receipt_url": [
        None,
        "https://p.example/r/1",
        "HTTP://p.example",
        "http://",
        "http:///x",
        "http://?x",
        "http://#x",
        "http://[x",
        "javascript:alert(1)",
        "https://p.example/a b",
        "https://p.example/\n",
        "https://" + "a" * 2040,
        "https://" + "a" * 2041,
    ],
    "idempotency_key": ["k", "", "k" * 255, "k" * 256, "a b", "k\n", "é", 5, None],
    "expected_version": [None, 1, 149.0, 1.5, 0, -1, True, "1", 2**31 - 1, 2**31, 1e300],
    "amount": [
        None,
        5000,
        5000.0,
        "5000",
        "5000.00",
        "5000.5",
        "5000.001",
        "5000.100",
        "",
        " 5000",
        "5000 ",
        "5e3",
        "999",
        "0999.99",
        "99.99",
        "099",
        "100",
        "9999999999.99",
        "10000000000",
        5000.25,
        5000.255,
        999.99,
        999,
        99.99,
        100,
        10**10,
    ],
    HEADER: [
        "abc",
        "",
        " ",
        '""',
        '"a b"',
        '"q\\"x"',
        '"bad \\x"',
        "a,b",
        "a;p=1",
        '"abc";p=1',
        " abc\t",
        "k" * 255,
        "k" * 256,
        '"' + "k" * 255 + '"',
    ],
}


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in NAMED.items() for v in values], ids=repr
)
def test_the_document_and_the_server_agree_on_each_named_value(field, value):
    schema, server = FIELDS[field]
    assert schema_accepts(schema, value) == server(value)


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from('\t\n \x85\xa0"\\,;:/?#.-_'),
    max_size=12,
)


@pytest.mark.parametrize("field", sorted(FIELDS))
@given(
    value=_TEXT
    | st.text(alphabet="0123456789. ", max_size=14)
    | st.sampled_from(["http://", "https://x", '"']).flatmap(lambda p: _TEXT.map(lambda t: p + t))
)
def test_the_document_and_the_server_agree_on_any_text(field, value):
    if field == HEADER:
        assume(carried_by_http(value))
    schema, server = FIELDS[field]
    assert schema_accepts(schema, value) == server(value), value
