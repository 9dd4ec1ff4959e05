"""Pure validation and money rules: no database, no Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.models import money
from app.payments.errors import ConsultationNotFound, InvalidPaymentRequest
from app.payments.idempotency import fingerprint, hash_key
from app.payments.records import payment_reference
from app.payments.requests import parse_payment_request


def parse(**kw):
    base = {"consultation_id": 1, "payment_method": "gcash"}
    return parse_payment_request(**{**base, **kw})


def test_a_valid_request_is_parsed_with_amount_as_decimal():
    req = parse(amount=Decimal("5000"), idempotency_key="abc")
    assert req.amount == Decimal("5000.00")
    assert req.idempotency_key == "abc"


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidPaymentRequest) as info:
        parse(consultation_id="x", payment_method="cash", amount="12", idempotency_key="")
    assert set(info.value.errors) == {
        "consultation_id",
        "payment_method",
        "amount",
        "idempotency_key",
    }


@pytest.mark.parametrize(
    "amount",
    [
        -1,
        0,
        Decimal("99.99"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1e309"),
        10**15,
        pytest.param(10**5000, id="10**5000"),
        pytest.param(-(10**5000), id="-10**5000"),
        "1,000",
        "٥٠٠٠",
        "",
        " ",
        "5000.001",
        "1e3",
        True,
        5000.0,
        [5000],
    ],
)
def test_bad_amounts_are_refused(amount):
    with pytest.raises(InvalidPaymentRequest):
        parse(amount=amount)


@pytest.mark.parametrize("consultation_id", [2**40, pytest.param(10**5000, id="10**5000")])
def test_a_huge_consultation_id_is_simply_not_found(consultation_id):
    with pytest.raises(ConsultationNotFound):
        parse(consultation_id=consultation_id)


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_any_key_is_accepted_only_if_1_to_255_printable_ascii(key):
    ok = 1 <= len(key) <= 255 and all(0x20 <= ord(c) <= 0x7E for c in key)
    try:
        parse(idempotency_key=key)
    except InvalidPaymentRequest:
        assert not ok
    else:
        assert ok


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.decimals()))
@settings(max_examples=300)
def test_any_amount_either_parses_to_centavos_at_least_100_or_is_refused(amount):
    try:
        req = parse(amount=amount)
    except InvalidPaymentRequest:
        return
    assert req.amount is None or (req.amount >= 100 and req.amount == money(req.amount))


def test_invoice_number_follows_the_seed_format():
    from datetime import UTC, datetime

    assert (
        payment_reference(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 42) == "INV-20260102030405-42"
    )


def test_keys_and_fingerprints_are_hashed():
    assert len(hash_key("k")) == 64 and hash_key("k") != "k"
    assert fingerprint("1|gcash|") != fingerprint("1|stripe|")
