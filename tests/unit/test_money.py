"""Each provider's money codec: whole centavos only, never rounded, at the edges."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.gateway.money import (
    CENTAVOS,
    DECIMAL_PESOS,
    MAX_CENTAVOS,
    MAX_PESOS,
    NotAnAmount,
)

EDGES = [Decimal("0.01"), Decimal("5000.00"), Decimal("999999.99")]


# --- PayMongo: integer centavos --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pesos", "centavos"),
    [
        (Decimal("0.01"), 1),
        (Decimal("5000.00"), 500_000),
        (Decimal("5000"), 500_000),
        (Decimal("999999.99"), 99_999_999),
        (Decimal("1000.000"), 100_000),  # trailing zeros are still whole centavos
        ("20.50", 2_050),
        (0, 0),
    ],
)
def test_pesos_become_whole_centavos(pesos, centavos):
    assert CENTAVOS.encode(pesos) == centavos


@pytest.mark.parametrize(
    ("centavos", "pesos"),
    [(1, "0.01"), (500_000, "5000.00"), (99_999_999, "999999.99"), (0, "0.00")],
)
def test_centavos_become_pesos_with_two_places(centavos, pesos):
    value = CENTAVOS.decode(centavos)
    assert value == Decimal(pesos) and str(value) == pesos


@pytest.mark.parametrize("centavos", [-1, MAX_CENTAVOS + 1, 1.0, "100", True, None])
def test_only_whole_centavos_in_range_are_read(centavos):
    with pytest.raises(NotAnAmount):
        CENTAVOS.decode(centavos)


def test_more_than_paymongos_int32_is_refused():
    with pytest.raises(NotAnAmount, match="outside"):
        CENTAVOS.encode(Decimal(MAX_CENTAVOS + 1) / 100)


@pytest.mark.parametrize("centavos", [1, 99, 100, 123_456, MAX_CENTAVOS])
def test_a_centavos_round_trip_changes_nothing(centavos):
    assert CENTAVOS.encode(CENTAVOS.decode(centavos)) == centavos


# --- Xendit: decimal pesos -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pesos", "wire"),
    [
        (Decimal("0.01"), "0.01"),
        (Decimal("5000.00"), "5000"),
        (Decimal("10000.01"), "10000.01"),
        (Decimal("999999.99"), "999999.99"),
        ("20.50", "20.5"),
        (0, "0"),
    ],
)
def test_pesos_go_on_xendits_wire_as_the_same_digits(pesos, wire):
    assert json.dumps(DECIMAL_PESOS.encode(pesos)) == wire


@pytest.mark.parametrize("text", ["0.01", "5000", "5000.00", "999999.99", "10000.1"])
def test_xendits_numbers_are_read_exactly_as_pesos_with_two_places(text):
    value = DECIMAL_PESOS.decode(json.loads(text, parse_float=Decimal))
    assert value == Decimal(text) and value.as_tuple().exponent == -2


@pytest.mark.parametrize("pesos", EDGES)
def test_a_decimal_pesos_round_trip_through_json_changes_nothing(pesos):
    wire = json.dumps({"amount": DECIMAL_PESOS.encode(pesos)})
    assert DECIMAL_PESOS.decode(json.loads(wire, parse_float=Decimal)["amount"]) == pesos


@pytest.mark.parametrize("read", [1.5, "5000", True, None, Decimal("-1"), Decimal("0.001")])
def test_xendit_reads_only_exact_non_negative_numbers_in_centavos(read):
    with pytest.raises(NotAnAmount):
        DECIMAL_PESOS.decode(read)


def test_more_than_our_money_columns_hold_is_refused_by_xendits_codec():
    with pytest.raises(NotAnAmount, match="more than"):
        DECIMAL_PESOS.encode(MAX_PESOS + Decimal("0.01"))


# --- both: refused, never rounded ------------------------------------------------------------


CODECS = pytest.mark.parametrize("codec", [CENTAVOS, DECIMAL_PESOS], ids=["paymongo", "xendit"])


@CODECS
@pytest.mark.parametrize("pesos", [Decimal("1000.005"), Decimal("0.001"), Decimal("999999.999")])
def test_a_fraction_of_a_centavo_is_refused_not_rounded(codec, pesos):
    with pytest.raises(NotAnAmount, match="whole number of centavos"):
        codec.encode(pesos)


@CODECS
@pytest.mark.parametrize(
    "pesos",
    [Decimal("-0.01"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+999999"), 1.5, True, None],
)
def test_what_is_not_an_amount_is_refused(codec, pesos):
    with pytest.raises(NotAnAmount):
        codec.encode(pesos)
