"""The webhook signature scheme, without a database."""

from __future__ import annotations

import pytest

from app.config import CLINIC_SETTINGS, load_config
from app.gateway import signing
from app.payments.errors import BadSignature

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"payment.succeeded"}'
T = 1_790_000_000


def test_a_signed_body_verifies_and_returns_its_timestamp():
    header = signing.sign(SECRET, BODY, timestamp=T)
    assert signing.verify(SECRET, header, BODY, now=T) == T


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_a_timestamp_within_300_seconds_either_way_is_accepted(skew):
    header = signing.sign(SECRET, BODY, timestamp=T)
    assert signing.verify(SECRET, header, BODY, now=T + skew) == T


@pytest.mark.parametrize("skew", [-301, 301, 86400])
def test_a_timestamp_further_away_is_refused_as_a_replay(skew):
    header = signing.sign(SECRET, BODY, timestamp=T)
    with pytest.raises(BadSignature, match="300 seconds"):
        signing.verify(SECRET, header, BODY, now=T + skew)


def test_any_one_matching_digest_is_enough_for_secret_rotation():
    good = signing.sign(SECRET, BODY, timestamp=T).split(",")[1]
    old = signing.sign("whsec_old", BODY, timestamp=T).split(",")[1]
    assert signing.verify(SECRET, f"t={T},{old},{good}", BODY, now=T) == T


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=1",
        "v1=" + "a" * 64,
        f"t={T},v1=" + "A" * 64,  # digests are lower-case hex
        f"t={T},v1=" + "a" * 63,
        f"t=-{T},v1=" + "a" * 64,
        f"t={T}.5,v1=" + "a" * 64,
        "t=" + "9" * 13 + ",v1=" + "a" * 64,
        f"t={T},v1=" + "a" * 64 + ",x" * 600,
    ],
)
def test_missing_or_malformed_headers_are_refused(header):
    with pytest.raises(BadSignature):
        signing.verify(SECRET, header, BODY, now=T)


def test_another_secret_or_another_body_does_not_verify():
    header = signing.sign(SECRET, BODY, timestamp=T)
    with pytest.raises(BadSignature, match="does not match"):
        signing.verify("whsec_other", header, BODY, now=T)
    with pytest.raises(BadSignature, match="does not match"):
        signing.verify(SECRET, header, BODY + b" ", now=T)


def test_the_sandbox_provider_is_off_by_default_in_production_only(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.setenv("GATEWAY_WEBHOOK_SECRET", "y" * 32)
    monkeypatch.delenv("GATEWAY_SANDBOX", raising=False)
    for name in CLINIC_SETTINGS:
        monkeypatch.setenv(name, "x")
    assert load_config({"APP_ENV": "production"}).GATEWAY_SANDBOX is False
    assert load_config({"APP_ENV": "development"}).GATEWAY_SANDBOX is True
    monkeypatch.setenv("GATEWAY_SANDBOX", "1")
    assert load_config({"APP_ENV": "production"}).GATEWAY_SANDBOX is True
