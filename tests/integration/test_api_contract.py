"""What the API promises beyond each field's shape: refund reasons checked as sent, 405 with
Allow everywhere, and links from a created payment to what can be done with it."""

from __future__ import annotations

import pytest

from app.api.openapi import document
from tests.support.outbox import paid_payment, requests_of


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        (" " + "x" * 500, "at most 500 characters: this one has 501"),
        ("Doctor\u0085unavailable", "control character U+0085"),
        ("Doctor\tunavailable", "control character U+0009"),
        ("Doctor\nunavailable", "control character U+000A"),
        ("\u3000 ", "empty or only spaces"),
    ],
)
def test_a_refund_reason_is_checked_as_sent_and_the_real_cause_is_said(
    app, api, factory, reason, says
):
    payment_id = paid_payment(app, factory)
    response = api.refund(factory.staff(), payment_id, reason=reason)
    assert response.status_code == 422
    assert says in response.json["errors"]["reason"]
    assert requests_of(app, payment_id) == []  # nothing stored, nothing to send the provider


def test_the_provider_is_sent_the_reason_without_the_spaces_around_it(app, api, factory):
    payment_id = paid_payment(app, factory)
    reason = "  Doctor unavailable\u00a0"
    assert api.refund(factory.staff(), payment_id, reason=reason).status_code == 200
    [request] = requests_of(app, payment_id)
    assert request["reason"] == "Doctor unavailable"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/api/v1/payments", {"POST"}),
        ("put", "/api/v1/payments/1", {"GET"}),
        ("get", "/api/v1/payments/1/refund", {"POST"}),
        ("get", "/webhooks/gateway", {"POST"}),
        ("get", "/logout", {"POST"}),
        ("delete", "/staff/invoices", {"GET"}),
    ],
)
def test_every_405_says_which_methods_are_allowed(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_a_created_payment_links_to_reading_confirming_and_refunding_it():
    paths = document()["paths"]
    created = paths["/api/v1/payments"]["post"]["responses"]["201"]["links"]
    confirmed = paths["/api/v1/payments/{payment_id}/confirm"]["post"]["responses"]["200"]["links"]
    operations = {p["operationId"]: p for ops in paths.values() for p in ops.values()}
    for link in (*created.values(), *confirmed.values()):
        assert link["operationId"] in operations
        assert link["parameters"] == {"payment_id": "$response.body#/data/payment/id"}
    assert {link["operationId"] for link in created.values()} == {
        "getPayment",
        "confirmPayment",
        "refundPayment",
    }
