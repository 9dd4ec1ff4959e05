"""The OpenAPI 3.1 document of /api/v1 and the provider webhook, served at /api/v1/openapi.json.

Built from Python dicts so the enums, problem types and field rules come from the code
itself (payment methods, statuses, ``PROBLEM_TYPES``, and the very patterns and limits
``app.payments.requests`` and ``app.api.keys`` check requests with). The test suite validates it with
``openapi-spec-validator`` and checks every API response of every test against it
with ``openapi-core`` (tests/support/openapi.py), so it cannot drift from the code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from app.api.keys import HEADER_PATTERN
from app.api.openapi_schemas import ID, SCHEMAS, matching, ref
from app.gateway.paymongo_signing import HEADER as PAYMONGO_SIGNATURE_HEADER
from app.gateway.signing import HEADER as SIGNATURE_HEADER
from app.gateway.xendit import CALLBACK_TOKEN_HEADER as XENDIT_TOKEN_HEADER
from app.payments.idempotency import KEY_EXPIRES_HEADER

_HEADERS = {
    "Location": {
        "description": "The created payment: /api/v1/payments/{id}.",
        "schema": {"type": "string"},
    },
    KEY_EXPIRES_HEADER: {
        "description": "When this idempotency key stops being honoured (an HTTP-date); "
        "a retry after it is a new request. Sent when a key was sent.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "true on a replay: the first answer, byte for byte.",
        "schema": {"const": "true"},
    },
    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}},
    "Allow": {
        "description": "The methods this address accepts (RFC 9110, section 10.2.1).",
        "required": True,
        "schema": {"type": "string"},
    },
    "Link": {
        "description": '<url>; rel="payment": the payment\'s one hosted checkout at the '
        "provider, the same on every repeat. Sent for a pending payment when the provider's "
        "sessions are stored (PAYMENT_PROVIDER=paymongo).",
        "schema": {"type": "string"},
    },
}


def _json(schema_name: str, description: str, headers: tuple[str, ...] = ()) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
    }
    if headers:
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return response


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "$ref": "#/components/responses/" + ("MethodNotAllowed" if status == 405 else "Problem")
        }
        for status in statuses
    }


# What a created (or confirmed) payment leads to: the operations on its id.
_PAYMENT_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"payment_id": "$response.body#/data/payment/id"},
    }
    for name, operation in (
        ("GetPayment", "getPayment"),
        ("ConfirmPayment", "confirmPayment"),
        ("RefundPayment", "refundPayment"),
    )
}


_COMMON = (400, 401, 405, 413, 415, 429, 500, 503)
_PAYMENT_ID = {
    "name": "payment_id",
    "in": "path",
    "required": True,
    "schema": ID,
}


#: The header both payment-moving operations honour (app/api/keys.py parses it).
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": 'An RFC 8941 sf-string ("abc", with \\" and \\\\ escaped) or a bare key. '
    "The same key and request again answer the first answer; the same key with another "
    "request is refused (422). Required when the server sets REQUIRE_IDEMPOTENCY_KEY=1.",
    "schema": matching(HEADER_PATTERN),
}


def _body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema_name)}}}


#: Each provider's own webhook address, described only where that provider is configured.
_PROVIDER_WEBHOOKS = {"paymongo": "/webhooks/paymongo", "xendit": "/webhooks/xendit"}


@cache
def document(provider: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a dict, built once per ``provider``).

    ``provider`` (``PAYMENT_PROVIDER``) is what is served: a provider's own webhook address
    answers 404 elsewhere, so it is described only where that provider is configured. None
    describes every address (the tests check every answer against that one).
    """
    full = _document()
    unused = [path for name, path in _PROVIDER_WEBHOOKS.items() if provider not in (None, name)]
    if not unused:
        return full
    return {**full, "paths": {k: v for k, v in full["paths"].items() if k not in unused}}


def _provider_webhook(
    operation_id: str, summary: str, description: str, header: str, header_text: str
) -> dict[str, Any]:
    """A provider's own webhook address: its proof ``header`` required, any JSON object."""
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "security": [],
            "parameters": [
                {
                    "name": header,
                    "in": "header",
                    "required": True,
                    "description": header_text,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": _json("WebhookReceipt", "Received (applied, ignored or refused)."),
                **_problems(*_COMMON, 404),
            },
        }
    }


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Consultation checkout API",
            "version": "1",
            "description": "Pay for a consultation exactly once. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/payments": {
                "post": {
                    "operationId": "createPayment",
                    "summary": "Create a payment, or replay the first answer of its key",
                    "parameters": [_IDEMPOTENCY_KEY],
                    "requestBody": _body("CreatePayment"),
                    "responses": {
                        "201": {
                            **_json(
                                "PaymentCreated",
                                "Created (or a replay of the first 201, byte for byte).",
                                ("Location", KEY_EXPIRES_HEADER, "Idempotent-Replayed", "Link"),
                            ),
                            "links": _PAYMENT_LINKS,
                        },
                        "409": {
                            "description": "payment-exists (also replayed) or payment-in-progress.",
                            "headers": {
                                name: {"$ref": f"#/components/headers/{name}"}
                                for name in (KEY_EXPIRES_HEADER, "Idempotent-Replayed")
                            },
                            "content": {"application/problem+json": {"schema": ref("Problem")}},
                        },
                        **_problems(*_COMMON, 403, 404, 422),
                    },
                }
            },
            "/api/v1/payments/{payment_id}": {
                "get": {
                    "operationId": "getPayment",
                    "summary": "A payment with its invoice, tax record and events",
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": _json("PaymentDetail", "The payment."),
                        **_problems(*_COMMON, 404),
                    },
                }
            },
            "/api/v1/payments/{payment_id}/confirm": {
                "post": {
                    "operationId": "confirmPayment",
                    "summary": "Staff: confirm with the provider's transaction id",
                    "parameters": [_PAYMENT_ID],
                    "requestBody": _body("Confirm"),
                    "responses": {
                        "200": {
                            **_json("Transition", "Confirmed, or already was."),
                            "links": {"RefundPayment": _PAYMENT_LINKS["RefundPayment"]},
                        },
                        **_problems(*_COMMON, 403, 404, 409, 422),
                    },
                }
            },
            "/api/v1/payments/{payment_id}/refund": {
                "post": {
                    "operationId": "refundPayment",
                    "summary": "Staff: refund a completed payment, once per idempotency key",
                    "parameters": [_PAYMENT_ID, _IDEMPOTENCY_KEY],
                    "requestBody": _body("Refund"),
                    "responses": {
                        "200": _json(
                            "Transition",
                            "Refunded, or already was (or a replay of the key's first 200, "
                            "byte for byte). Without a key, each request is a refund of its own.",
                            (KEY_EXPIRES_HEADER, "Idempotent-Replayed"),
                        ),
                        **_problems(*_COMMON, 403, 404, 409, 422),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/webhooks/gateway": {
                "post": {
                    "operationId": "providerWebhook",
                    "summary": "The payment provider's signed notification, applied once per id",
                    "security": [],
                    "parameters": [
                        {
                            "name": SIGNATURE_HEADER,
                            "in": "header",
                            "required": True,
                            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                            "'<t>.<raw body>'>.",
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": _body("ProviderEvent"),
                    "responses": {
                        "200": _json("WebhookReceipt", "Received (applied, ignored or refused)."),
                        **_problems(*_COMMON, 404),
                    },
                }
            },
            "/webhooks/paymongo": _provider_webhook(
                "paymongoWebhook",
                "A PayMongo event (PAYMENT_PROVIDER=paymongo), applied once per id",
                "Verified as PayMongo's 'Securing a webhook' page says; "
                "404 unless PayMongo is the configured provider.",
                PAYMONGO_SIGNATURE_HEADER,
                "t=<unix seconds>,te=<test-mode HMAC>,li=<live-mode HMAC>, each hex "
                "HMAC-SHA256 of '<t>.<raw body>'.",
            ),
            "/webhooks/xendit": _provider_webhook(
                "xenditWebhook",
                "A Xendit webhook (PAYMENT_PROVIDER=xendit), applied once per event",
                "Accepted with the account's callback verification token; "
                "404 unless Xendit is the configured provider.",
                XENDIT_TOKEN_HEADER,
                "Xendit's callback verification token.",
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "headers": _HEADERS,
            "responses": {
                "Problem": {
                    "description": "A problem (RFC 9457); its type resolves to a page.",
                    "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
                    "content": {"application/problem+json": {"schema": ref("Problem")}},
                },
                "MethodNotAllowed": {
                    "description": "This address does not accept that method; Allow lists "
                    "the ones it does.",
                    "headers": {"Allow": {"$ref": "#/components/headers/Allow"}},
                    "content": {"application/problem+json": {"schema": ref("Problem")}},
                },
            },
        },
    }
