"""Pesos to integer centavos and back: whole centavos only, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.gateway.centavos import MAX_CENTAVOS, NotCentavos, from_centavos, to_centavos


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
    assert to_centavos(pesos) == centavos


@pytest.mark.parametrize("pesos", [Decimal("1000.005"), Decimal("0.001"), Decimal("999999.999")])
def test_a_fraction_of_a_centavo_is_refused_not_rounded(pesos):
    with pytest.raises(NotCentavos, match="whole number of centavos"):
        to_centavos(pesos)


@pytest.mark.parametrize(
    "pesos",
    [
        Decimal("-0.01"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal(MAX_CENTAVOS + 1) / 100,
        1.5,  # a float never becomes money
        True,
        None,
        "five",
    ],
)
def test_what_is_not_an_amount_is_refused(pesos):
    with pytest.raises(NotCentavos):
        to_centavos(pesos)


@pytest.mark.parametrize(
    ("centavos", "pesos"),
    [(1, "0.01"), (500_000, "5000.00"), (99_999_999, "999999.99"), (0, "0.00")],
)
def test_centavos_become_pesos_with_two_places(centavos, pesos):
    value = from_centavos(centavos)
    assert value == Decimal(pesos) and str(value) == pesos


@pytest.mark.parametrize("centavos", [-1, MAX_CENTAVOS + 1, 1.0, "100", True, None])
def test_only_whole_centavos_in_range_are_read(centavos):
    with pytest.raises(NotCentavos):
        from_centavos(centavos)


@pytest.mark.parametrize("centavos", [1, 99, 100, 123_456, MAX_CENTAVOS])
def test_a_round_trip_changes_nothing(centavos):
    assert to_centavos(from_centavos(centavos)) == centavos
