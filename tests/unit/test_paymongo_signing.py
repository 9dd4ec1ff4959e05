"""PayMongo's webhook signature (https://developers.paymongo.com/docs/securing-webhook)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.gateway import paymongo_signing as signing
from app.gateway.paymongo_signing import Mode
from app.payments.errors import BadSignature

SECRET = "whsk_unit"
BODY = b'{"data":{"id":"evt_1","type":"event","attributes":{"type":"payment.paid"}}}'
T = 1_790_000_000


def by_hand(timestamp: int, body: bytes, secret: str = SECRET) -> str:
    """The docs' recipe, written out: HMAC-SHA256(secret, "<t>." + raw body), hex."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_docs_recipe_matches_what_we_sign():
    assert signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T) == (
        f"t={T},te={by_hand(T, BODY)},li="
    )
    assert signing.sign(SECRET, BODY, mode=Mode.LIVE, timestamp=T) == (
        f"t={T},te=,li={by_hand(T, BODY)}"
    )


def test_a_test_mode_event_verifies_against_te():
    # paymongo-python 0.2.1 compares only with li, so it refuses this genuine header.
    header = f"t={T},te={by_hand(T, BODY)},li="
    assert signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T) == T


def test_a_live_mode_event_verifies_against_li():
    header = f"t={T},te=,li={by_hand(T, BODY)}"
    assert signing.verify(SECRET, header, BODY, mode=Mode.LIVE, now=T) == T


def test_a_signature_in_the_other_modes_slot_is_refused():
    good = by_hand(T, BODY)
    with pytest.raises(BadSignature, match="no li"):
        signing.verify(SECRET, f"t={T},te={good},li=", BODY, mode=Mode.LIVE, now=T)
    with pytest.raises(BadSignature, match="no te"):
        signing.verify(SECRET, f"t={T},te=,li={good}", BODY, mode=Mode.TEST, now=T)


def test_only_our_modes_slot_counts_when_both_are_filled():
    header = f"t={T},te={by_hand(T, BODY)},li={by_hand(T, BODY, 'other')}"
    assert signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T) == T
    with pytest.raises(BadSignature, match="does not match"):
        signing.verify(SECRET, header, BODY, mode=Mode.LIVE, now=T)


@pytest.mark.parametrize(
    "body",
    [
        BODY.replace(b"payment.paid", b"payment.fail"),
        BODY + b" ",
        # Re-encoded JSON (what a framework's parsed-then-dumped body gives) is not the raw body.
        b'{"data": {"id": "evt_1", "type": "event", "attributes": {"type": "payment.paid"}}}',
    ],
)
def test_a_tampered_or_re_encoded_body_is_refused(body):
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T)
    with pytest.raises(BadSignature, match="does not match"):
        signing.verify(SECRET, header, body, mode=Mode.TEST, now=T)


def test_another_secret_is_refused():
    header = signing.sign("whsk_other", BODY, mode=Mode.TEST, timestamp=T)
    with pytest.raises(BadSignature, match="does not match"):
        signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T)


def test_a_changed_timestamp_is_refused():
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(BadSignature, match="does not match"):
        signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T)


@pytest.mark.parametrize("age", [0, 60, signing.MAX_AGE_SECONDS])
def test_a_timestamp_up_to_three_hours_old_is_accepted_for_paymongos_retries(age):
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T)
    assert signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T + age) == T


@pytest.mark.parametrize("age", [signing.MAX_AGE_SECONDS + 1, 86_400, 10 * 365 * 86_400])
def test_a_stale_timestamp_is_refused(age):
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T)
    with pytest.raises(BadSignature, match="timestamp"):
        signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T + age)


def test_a_timestamp_up_to_five_minutes_ahead_is_clock_skew():
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T + signing.MAX_SKEW_SECONDS)
    assert signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T)


def test_a_timestamp_further_in_the_future_is_refused():
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T + signing.MAX_SKEW_SECONDS + 1)
    with pytest.raises(BadSignature, match="timestamp"):
        signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T)


GOOD = by_hand(T, BODY)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"te={GOOD},li=",  # no t
        f"t=,te={GOOD},li=",
        f"t=-5,te={GOOD},li=",
        f"t=1e9,te={GOOD},li=",
        f"t={T},te={GOOD[:-1]},li=",  # not 64 hex digits
        f"t={T},te={GOOD[:-1]}z,li=",
        f"t={T},t={T},te={GOOD},li=",  # a repeated part
        f"t={T},te={GOOD},li=,v1={GOOD}",  # a part PayMongo does not send
        f"t={T};te={GOOD};li=",
        f"t={T},te={GOOD},li=" + "0" * 600,  # too long
    ],
)
def test_a_missing_or_malformed_header_is_refused(header):
    with pytest.raises(BadSignature):
        signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T)


def test_upper_case_hex_and_spaces_after_commas_are_read():
    header = f"t={T}, te={GOOD.upper()}, li="
    assert signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T) == T


def test_the_comparison_is_constant_time(monkeypatch):
    compared = []

    def spy(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    header = signing.sign(SECRET, BODY, mode=Mode.TEST, timestamp=T)

    signing.verify(SECRET, header, BODY, mode=Mode.TEST, now=T)

    assert compared == [(GOOD.encode(), GOOD.encode())]
