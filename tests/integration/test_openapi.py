"""The OpenAPI 3.1 document: valid, served, and able to catch a response that drifts."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from app.api.openapi import document
from tests.support.openapi import check_response


def test_the_document_is_valid_openapi_3_1():
    assert document()["openapi"].startswith("3.1")
    validate(document())


def test_the_document_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json == json.loads(json.dumps(document("sandbox")))
    # a provider's own webhook address is described only where that provider is configured
    assert "/webhooks/paymongo" not in response.json["paths"]
    assert "/webhooks/paymongo" in document("paymongo")["paths"]


def test_the_document_describes_every_api_route_and_the_webhook(app):
    paths = document()["paths"]
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/webhooks/")):
            path = rule.rule.replace("<int:payment_id>", "{payment_id}")
            assert path in paths, path
            assert rule.methods - {"HEAD", "OPTIONS"} == {m.upper() for m in paths[path]}


def test_a_response_the_document_does_not_allow_fails_the_test(api, patient, consultation):
    created = api.pay(patient, consultation)
    check_response(created)  # as sent: allowed
    body = created.json
    del body["data"]["payment"]["status"]
    created.set_data(json.dumps(body))
    with pytest.raises(AssertionError, match="not what the OpenAPI document allows"):
        check_response(created)
    created.status_code = 418
    with pytest.raises(AssertionError, match="418"):
        check_response(created)
