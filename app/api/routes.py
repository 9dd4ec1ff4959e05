"""JSON API v1: parse, call the payment service, render. Nothing here commits."""

from __future__ import annotations

import json
from decimal import Decimal

from flask import Response, current_app, request, url_for

from app import audit
from app.api import bp, openapi
from app.api.auth import (
    api_prefetched_answer,
    api_user,
    api_user_id,
    token_required,
    token_role,
)
from app.api.keys import MalformedKeyHeader, header_key
from app.api.problems import from_error, json_response, problem
from app.extensions import csrf, db
from app.gateway.provider import current_gateway
from app.i18n import N_
from app.invoices.fields import invoice_fields
from app.models import AuditAction, Payment, PaymentStatus, Role
from app.payments import access, checkout_session, keyed_refunds, lifecycle, service
from app.payments.errors import PaymentError
from app.payments.lifecycle import is_stale
from app.payments.ratelimit import payment_limit
from app.payments.records import event_json, invoice_json, payment_json, tax_json
from app.payments.requests import parse_payment_request

csrf.exempt(bp)


class BadBody(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def json_body() -> dict:
    """The request body as a JSON object, numbers as Decimal (never float)."""
    if not request.mimetype or not (
        request.mimetype == "application/json" or request.mimetype.endswith("+json")
    ):
        raise BadBody(415, N_("Send the body as application/json."))
    try:
        body = json.loads(
            request.get_data(cache=True) or b"",
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except ValueError:
        raise BadBody(400, N_("The body is not valid JSON.")) from None
    except RecursionError:
        # A few kilobytes of "[[[[" nest deeper than the decoder's stack: bad input, not a 500.
        raise BadBody(400, N_("The body nests too deeply.")) from None
    if not isinstance(body, dict):
        raise BadBody(400, N_("The body must be a JSON object."))
    return body


@bp.errorhandler(BadBody)
def _bad_body(error: BadBody):
    # Literal slugs: tests/integration/test_problem_pages.py reads them from the code.
    if error.status == 415:
        return problem("unsupported-media-type", error.detail)
    return problem("malformed-body", error.detail)


@bp.errorhandler(MalformedKeyHeader)
def _malformed_key_header(error: MalformedKeyHeader):
    return problem("idempotency-key-malformed", str(error))


@bp.errorhandler(PaymentError)
def _payment_error(error: PaymentError):
    return from_error(error)


@bp.post("/payments")
@token_required
@payment_limit(api_user_id)
def create_payment():
    """Create a payment (201), or replay the first answer of this idempotency key byte for byte.

    :raise 401: no valid token.  :raise 400: a malformed Idempotency-Key header, or no key
        while ``REQUIRE_IDEMPOTENCY_KEY`` is on.  :raise 404 / 403 / 409 / 422 / 503: see
        docs/api.md.
    """
    body = json_body()
    from_header = header_key(request.headers)
    if (
        from_header is None
        and body.get("idempotency_key") is None
        and current_app.config["REQUIRE_IDEMPOTENCY_KEY"]
    ):
        return problem(
            "idempotency-key-missing",
            "Send an Idempotency-Key header with a new unique key; nothing was written.",
        )
    req = parse_payment_request(
        consultation_id=body.get("consultation_id"),
        payment_method=body.get("payment_method"),
        amount=body.get("amount"),
        idempotency_key=body.get("idempotency_key"),
        header_idempotency_key=from_header,
    )
    # The id only: a replay from Redis then reads no database row at all.
    outcome = service.create_payment(api_user_id(), req, prefetched=api_prefetched_answer())
    response = _outcome_response(outcome)
    url = _hosted_checkout(outcome)
    if url is not None:
        # The payment's one hosted checkout (the same on every repeat of the key).
        response.headers["Link"] = f'<{url}>; rel="payment"'
    return response


def _outcome_response(outcome: service.Outcome) -> Response:
    """A keyed request's answer as stored: its text and own headers, marked when replayed."""
    response = Response(outcome.body, status=outcome.status)
    for name, value in outcome.headers:
        response.headers[name] = value
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _hosted_checkout(outcome: service.Outcome) -> str | None:
    """For a provider whose sessions are stored: the pending payment's hosted checkout URL.

    :raise CheckoutUnavailable: 503 (Retry-After): the payment is kept; repeat the request
        with the same key, which answers the same payment and its one hosted checkout.
        ``CheckoutPreparing`` (Retry-After: 1) when another request with that key is
        creating the checkout at the provider right now: answered at once, not waited for.
    """
    gateway = current_gateway()
    if outcome.status != 201 or not gateway.stores_checkouts:
        return None
    payment = db.session.get(Payment, outcome.payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING or is_stale(payment):
        return None
    return checkout_session.hosted_checkout_url(
        payment.id,
        gateway,
        return_url=url_for("checkout.payment", payment_id=payment.id, _external=True),
    )


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API and the provider webhook (no token needed)."""
    return json_response(openapi.document(current_app.config["PAYMENT_PROVIDER"]), 200)


@bp.get("/payments/<int:payment_id>")
@token_required
def get_payment(payment_id: int):
    """The payment with its invoice, tax record and events; the owner or staff only."""
    payment = access.visible_payment(db.session, api_user(), payment_id)
    if api_user().is_staff:
        audit.viewed(AuditAction.PAYMENT_VIEWED, actor=api_user(), payment=payment, via="api")
    data = {
        "payment": payment_json(payment),
        "invoice": invoice_json(payment.invoice),
        "tax_record": tax_json(payment.tax_record),
        "invoice_fields": invoice_fields(payment),
        "events": [event_json(e) for e in payment.events],
    }
    return json_response({"data": data}, 200)


@bp.post("/payments/<int:payment_id>/confirm")
@token_required
@token_role(Role.CASHIER)
def confirm_payment(payment_id: int):
    """Confirm a payment with the provider's transaction id: staff only (patients 403).

    Body: ``{transaction_id, receipt_url?, expected_version?}``. The same
    transaction id again answers 200 with the current state and changes nothing.

    :raise 403: not staff.  :raise 404: no such payment.  :raise 422: bad fields.
    :raise 409: stale ``expected_version``, a duplicate charge (recorded for staff),
        or a failed, expired or refunded payment.
    """
    body = json_body()
    result = lifecycle.confirm(
        payment_id,
        transaction_id=body.get("transaction_id"),
        receipt_url=body.get("receipt_url"),
        expected_version=body.get("expected_version"),
        actor=api_user(),
    )
    message = "Payment confirmed." if result.changed else "Already confirmed; nothing changed."
    return json_response(_transition_body(result, message), 200)


@bp.post("/payments/<int:payment_id>/refund")
@token_required
@token_role(Role.MANAGER)
def refund_payment(payment_id: int):
    """Refund a completed payment, whole or in part: managers only. Body: ``{reason, amount?,
    expected_version?, idempotency_key?}`` (``amount`` in pesos as text; absent: all that is
    left). Each refund issues a credit memo; repeating one without an amount changes nothing.
    With an ``Idempotency-Key`` header (or the body's ``idempotency_key``, as a create) the refund is made once per key and repeats replay its first
    answer (``keyed_refunds``); without one each request is a refund of its own.

    :raise 403: not a manager.  :raise 404: no such payment.
    :raise 400: a malformed Idempotency-Key header, or no key while
        ``REQUIRE_IDEMPOTENCY_KEY`` is on.
    :raise 422: no reason, a malformed amount, version or key, or a key used for another
        request.
    :raise 409: the payment is not completed, the amount is more than is left to refund, or
        ``expected_version`` is not the payment's version.
    """
    body = json_body()
    key = header_key(request.headers)
    if key is None and body.get("idempotency_key") is None:
        if current_app.config["REQUIRE_IDEMPOTENCY_KEY"]:
            return problem(
                "idempotency-key-missing",
                "Send an Idempotency-Key header with a new unique key; nothing was refunded.",
            )
        # No key: each request is a refund of its own (docs/api.md says when that is safe).
        result = lifecycle.refund(
            payment_id,
            body.get("reason"),
            api_user(),
            amount=body.get("amount"),
            expected_version=body.get("expected_version"),
        )
        return json_response(_refund_body(result), 200)
    outcome = keyed_refunds.refund(
        payment_id,
        body.get("reason"),
        api_user(),
        key=key,
        render=_refund_body,
        amount=body.get("amount"),
        expected_version=body.get("expected_version"),
        body_key=body.get("idempotency_key"),
    )
    return _outcome_response(outcome)


def _refund_body(result: lifecycle.Transition) -> dict:
    message = "Payment refunded." if result.changed else "Already refunded; nothing changed."
    return _transition_body(result, message)


def _transition_body(result: lifecycle.Transition, message: str) -> dict:
    return {
        "data": {
            "payment": result.payment,
            "invoice": result.invoice,
            "tax_record": result.tax_record,
        },
        "changed": result.changed,
        "message": message,
    }
