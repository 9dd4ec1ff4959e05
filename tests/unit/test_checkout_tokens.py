"""The checkout form's token: signed, fresh, and bound to one patient and one consultation."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.checkout.tokens import (
    SALT,
    CheckoutTokenError,
    CheckoutTokenExpired,
    CheckoutTokens,
    idempotency_key,
)

TOKENS = CheckoutTokens("unit-test-secret", max_age=3600)


def test_a_token_verifies_for_its_own_patient_and_consultation():
    token = TOKENS.mint(7, 42)
    nonce = TOKENS.verify(token, 7, 42)
    assert len(nonce) >= 20


def test_every_mint_has_a_new_nonce():
    assert TOKENS.verify(TOKENS.mint(7, 42), 7, 42) != TOKENS.verify(TOKENS.mint(7, 42), 7, 42)


@pytest.mark.parametrize("user_id, consultation_id", [(8, 42), (7, 43)])
def test_a_token_does_not_verify_for_another_patient_or_consultation(user_id, consultation_id):
    with pytest.raises(CheckoutTokenError) as caught:
        TOKENS.verify(TOKENS.mint(7, 42), user_id, consultation_id)
    assert not caught.value.expired


@pytest.mark.parametrize("token", [None, "", "garbage", "e30.abc.def"])
def test_missing_or_malformed_tokens_are_refused(token):
    with pytest.raises(CheckoutTokenError):
        TOKENS.verify(token, 7, 42)


def test_a_token_signed_with_another_secret_is_refused():
    other = CheckoutTokens("another-secret", max_age=3600)
    with pytest.raises(CheckoutTokenError):
        TOKENS.verify(other.mint(7, 42), 7, 42)


def test_a_token_older_than_max_age_is_expired():
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 3601

    old = URLSafeTimedSerializer("unit-test-secret", salt=SALT, signer=LongAgo)
    with pytest.raises(CheckoutTokenExpired) as caught:
        TOKENS.verify(old.dumps({"u": 7, "c": 42, "n": "x"}), 7, 42)
    assert caught.value.expired


def test_a_signed_payload_of_the_wrong_shape_is_refused():
    serializer = URLSafeTimedSerializer("unit-test-secret", salt=SALT)
    with pytest.raises(CheckoutTokenError):
        TOKENS.verify(serializer.dumps(["u", 7]), 7, 42)


def test_the_idempotency_key_names_the_nonce_and_the_method():
    assert idempotency_key("abc", "gcash") == "checkout:abc:gcash"
    assert idempotency_key("abc", "gcash") != idempotency_key("abc", "stripe")
