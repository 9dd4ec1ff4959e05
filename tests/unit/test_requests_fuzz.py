"""Bad input on the service's own validator: every case is a plain refusal naming the field.

``parse_payment_request`` is what the HTML checkout and the JSON API both call, so whatever
it refuses here, both interfaces refuse.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.payments.errors import ConsultationNotFound, InvalidPaymentRequest
from app.payments.requests import MAX_ID, parse_payment_request
from tests.support import bad_input
from tests.support.fuzz import count_case

VALID = {
    "consultation_id": 7,
    "payment_method": "gcash",
    "amount": Decimal("5000"),
    "idempotency_key": "key-1",
}


def refusal(suite: str, **change) -> InvalidPaymentRequest | ConsultationNotFound:
    count_case(suite)
    with pytest.raises((InvalidPaymentRequest, ConsultationNotFound)) as info:
        parse_payment_request(**{**VALID, **change})
    return info.value


def assert_names_the_field(error, field: str) -> None:
    assert isinstance(error, InvalidPaymentRequest), error
    assert set(error.errors) == {field}
    assert error.errors[field].strip()
    assert error.detail.startswith(f"{field}: ")


@given(bad_input.bad_amounts)
@settings(max_examples=400)
def test_a_bad_amount_is_refused_naming_the_amount(amount):
    assume(not bad_input.looks_valid_amount(amount))
    assert_names_the_field(refusal("service-amount", amount=amount), "amount")


@given(bad_input.bad_methods)
@settings(max_examples=150)
def test_a_bad_method_is_refused_naming_the_method(method):
    assume(not bad_input.looks_valid_method(method))
    assert_names_the_field(refusal("service-method", payment_method=method), "payment_method")


@given(bad_input.bad_keys)
@settings(max_examples=200)
def test_a_bad_key_is_refused_naming_the_key(key):
    assume(not bad_input.looks_valid_key(key))
    assert_names_the_field(refusal("service-key", idempotency_key=key), "idempotency_key")


@given(bad_input.bad_consultation_ids)
@settings(max_examples=150)
def test_a_bad_consultation_id_is_refused_or_simply_not_found(consultation_id):
    error = refusal("service-consultation", consultation_id=consultation_id)
    is_int = isinstance(consultation_id, int) and not isinstance(consultation_id, bool)
    if is_int and consultation_id > MAX_ID:
        assert isinstance(error, ConsultationNotFound)
        assert len(error.detail) < 100
        return
    assert_names_the_field(error, "consultation_id")


@given(
    st.fixed_dictionaries(
        {
            "consultation_id": bad_input.bad_consultation_ids,
            "payment_method": bad_input.bad_methods,
            "amount": bad_input.bad_amounts,
            "idempotency_key": bad_input.bad_keys,
        }
    )
)
@settings(max_examples=150)
def test_several_bad_fields_are_all_reported_at_once(fields):
    assume(not bad_input.looks_valid_method(fields["payment_method"]))
    assume(not bad_input.looks_valid_amount(fields["amount"]))
    assume(not bad_input.looks_valid_key(fields["idempotency_key"]))
    error = refusal("service-combined", **fields)
    assert isinstance(error, InvalidPaymentRequest)
    assert {"payment_method", "amount", "idempotency_key"} <= set(error.errors)
