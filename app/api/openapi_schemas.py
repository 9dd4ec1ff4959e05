"""The schemas of the OpenAPI document (``app.api.openapi``): every request and answer body.

Built from the same patterns and limits ``app.payments.requests`` checks requests with, so
the document states the server's own rules.
"""

from __future__ import annotations

from typing import Any

from app.models import MIN_CHARGE, PaymentStatus
from app.payments.requests import (
    AMOUNT_PATTERN,
    KEY_PATTERN,
    MAX_ID,
    MAX_REASON_LENGTH,
    MAX_URL_LENGTH,
    METHODS,
    REASON_PATTERN,
    RECEIPT_URL_PATTERN,
    REFUND_AMOUNT_PATTERN,
    TRANSACTION_ID_PATTERN,
)
from app.problem_types import PROBLEM_TYPES

_REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def matching(pattern: str, **schema: Any) -> dict[str, Any]:
    """A string the server accepts: the whole of it matches ``pattern`` (it uses fullmatch)."""
    return {"type": "string", "pattern": f"^(?:{pattern})$", **schema}


_TEXT = {"type": "string"}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_WHEN = {"type": ["string", "null"], "format": "date-time"}
_REFERENCE = {"type": "string", "pattern": "^INV-[0-9]{14}-[0-9]+$"}
_MONEY = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "description": "Pesos, two decimals."}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _object(properties: dict[str, Any], *, required: tuple[str, ...] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }


SCHEMAS: dict[str, Any] = {
    "Problem": {
        **_object(
            {
                "type": {
                    "type": "string",
                    "enum": [p.uri for p in PROBLEM_TYPES.values()] + ["about:blank"],
                    "description": "Resolves to a page: HTML, or JSON with Accept: application/json.",
                },
                "title": _TEXT,
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": _TEXT,
                "errors": {"type": "object", "additionalProperties": _TEXT},
                "retry_after": {"type": "integer", "minimum": 1},
                "existing_payment_id": ID,
                "existing_payment_status": {"enum": [s.value for s in PaymentStatus]},
            },
            required=("type", "title", "status", "detail"),
        ),
        "description": "RFC 9457 problem details.",
    },
    "Payment": _object(
        {
            "id": ID,
            "consultation_id": ID,
            "user_id": ID,
            "amount": _MONEY,
            "currency": {"const": "PHP"},
            "payment_method": {"enum": list(METHODS)},
            "status": {"enum": [s.value for s in PaymentStatus]},
            "transaction_id": {"type": ["string", "null"]},
            "receipt_url": {"type": ["string", "null"]},
            "version": {"type": "integer", "minimum": 1},
            "created_at": _WHEN,
            "updated_at": _WHEN,
            "completed_at": _WHEN,
        }
    ),
    "Invoice": _object(
        {
            "id": ID,
            "invoice_number": {
                **_REFERENCE,
                "deprecated": True,
                "description": "The payment reference under its older name (see reference).",
            },
            "reference": {
                **_REFERENCE,
                "description": "What the patient quotes while paying; not an invoice serial.",
            },
            "serial_number": {
                **_nullable(_TEXT),
                "description": "The sales invoice serial as printed (prefix and at least six "
                "digits), issued when the payment is captured; null before.",
            },
            "serial": _nullable({"type": "integer", "minimum": 1}),
            "branch_code": _nullable(matching("[0-9]{3,5}")),
            "amount": _MONEY,
            "status": _TEXT,
            "issued_at": _WHEN,
            "paid_at": _WHEN,
            "refunded_amount": {
                **_MONEY,
                "description": "Pesos of the credit memos whose refund was not refused.",
            },
            "credit_memos": {"type": "array", "items": ref("CreditMemo")},
        }
    ),
    "CreditMemo": _object(
        {
            "serial_number": _TEXT,
            "serial": {"type": "integer", "minimum": 1},
            "branch_code": matching("[0-9]{3,5}"),
            "amount": _MONEY,
            "reason": _TEXT,
            "issued_at": _WHEN,
            "refund_state": {"enum": ["pending", "succeeded", "failed"]},
        }
    ),
    "TaxRecord": _object(
        {
            "tax_type": _TEXT,
            "rate": {"type": "string"},
            "amount": _MONEY,
            "status": _TEXT,
        }
    ),
    "InvoiceFields": _object(
        {
            "seller": _object(
                {
                    "registered_name": _TEXT,
                    "business_style": _TEXT,
                    "address": _TEXT,
                    "tin_label": {"enum": ["VAT Reg. TIN", "Non-VAT Reg. TIN"]},
                    "tin": _TEXT,
                    "branch_code": {"type": "string", "pattern": "^[0-9]{3,5}$"},
                }
            ),
            "number": _TEXT,
            "date": _WHEN,
            "buyer": _object({"name": _TEXT, "address": _OPTIONAL_TEXT, "tin": _OPTIONAL_TEXT}),
            "lines": {
                "type": "array",
                "items": _object(
                    {
                        "description": _TEXT,
                        "quantity": {"type": "integer", "minimum": 1},
                        "unit_price": _MONEY,
                        "amount": _MONEY,
                    }
                ),
            },
            "vat_registered": {"type": "boolean"},
            "vatable_sales": _MONEY,
            "vat_exempt_sales": _MONEY,
            "zero_rated_sales": _MONEY,
            "vat": _MONEY,
            "discount": _MONEY,
            "discount_holder": _nullable(
                _object(
                    {"kind": {"enum": ["senior_citizen", "pwd"]}, "id_number": _TEXT, "name": _TEXT}
                )
            ),
            "total": _MONEY,
            "computerized_invoicing": _TEXT,
        }
    ),
    "Event": _object(
        {
            "id": ID,
            "type": _TEXT,
            "actor": _TEXT,
            "data": {"type": "object"},
            "at": _WHEN,
        }
    ),
    "CreatePayment": _object(
        {
            "consultation_id": ID,
            "payment_method": {"enum": list(METHODS)},
            "amount": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "number",
                        "minimum": int(MIN_CHARGE),
                        "exclusiveMaximum": 10**10,
                        "multipleOf": 0.01,
                    },
                    matching(AMOUNT_PATTERN),
                ],
                "description": "Optional (null is the same as absent). Pesos with at most two "
                f"decimals, at least {MIN_CHARGE}: must equal the amount charged for the "
                "consultation (less a senior citizen or PWD discount), else 422.",
            },
            "idempotency_key": _nullable(matching(KEY_PATTERN))
            | {
                "description": "Optional (null is the same as absent); if the "
                "Idempotency-Key header is sent too, they must be equal.",
            },
        },
        required=("consultation_id", "payment_method"),
    ),
    "PaymentCreated": _object(
        {
            "data": _object({"payment": ref("Payment"), "invoice": ref("Invoice")}),
            "message": _TEXT,
        }
    ),
    "PaymentDetail": _object(
        {
            "data": _object(
                {
                    "payment": ref("Payment"),
                    "invoice": _nullable(ref("Invoice")),
                    "tax_record": _nullable(ref("TaxRecord")),
                    "invoice_fields": _nullable(ref("InvoiceFields")),
                    "events": {"type": "array", "items": ref("Event")},
                }
            )
        }
    ),
    "Transition": _object(
        {
            "data": _object(
                {
                    "payment": ref("Payment"),
                    "invoice": _nullable(ref("Invoice")),
                    "tax_record": _nullable(ref("TaxRecord")),
                }
            ),
            "changed": {"type": "boolean"},
            "message": _TEXT,
        }
    ),
    "Confirm": _object(
        {
            "transaction_id": matching(TRANSACTION_ID_PATTERN),
            "receipt_url": _nullable(matching(RECEIPT_URL_PATTERN, maxLength=MAX_URL_LENGTH)),
            "expected_version": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
        },
        required=("transaction_id",),
    ),
    "Refund": _object(
        {
            "reason": matching(
                REASON_PATTERN,
                maxLength=MAX_REASON_LENGTH,
                description="Not only spaces; no control characters (tabs, line breaks, "
                "U+0080 to U+009F).",
            ),
            "amount": _nullable(
                matching(
                    REFUND_AMOUNT_PATTERN,
                    description="Pesos to refund, more than 0 and at most what is left to "
                    "refund; null or absent: all of it.",
                )
            ),
            "expected_version": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
            "idempotency_key": _nullable(matching(KEY_PATTERN))
            | {
                "description": "Optional (null is the same as absent), as for a create: the "
                "refund is made once per key; if the Idempotency-Key header is sent too, "
                "they must be equal.",
            },
        },
        required=("reason",),
    ),
    "ProviderEvent": _object(
        {
            "id": _TEXT,
            "type": {"type": "string", "examples": ["payment.succeeded", "payment.declined"]},
            "created": {"type": "integer"},
            "data": {"type": "object"},
        },
        required=("id", "type"),
    ),
    "WebhookReceipt": _object(
        {
            "received": {"const": True},
            "event_id": _TEXT,
            "outcome": _TEXT,
            "payment_id": {"type": ["integer", "null"]},
            "payment_status": {"type": ["string", "null"]},
            "detail": _TEXT,
        }
    ),
}
