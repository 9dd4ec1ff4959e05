"""Pesos (``Decimal``) to integer centavos and back, for providers that count in centavos.

PayMongo takes and reports every amount as a whole number of centavos (₱5,000.00
is ``500000``; see https://developers.paymongo.com/reference/refund-resource and
https://developers.paymongo.com/reference/payment-source). An amount that is not
a whole number of centavos is refused rather than rounded: rounding at this edge
would charge or refund a patient a different amount from the one we stored.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENTAVOS_PER_PESO = 100
#: The largest amount sent or read, in centavos (₱21,474,836.47): PayMongo's amount
#: fields are 32-bit integers (its refund resource page says int32).
MAX_CENTAVOS = 2**31 - 1


class NotCentavos(ValueError):
    """An amount that is not a whole, non-negative number of centavos within bounds."""


def to_centavos(pesos: Decimal | int | str) -> int:
    """``Decimal("5000.00")`` → ``500000``.

    :raise NotCentavos: not a finite number, negative, too large, or a fraction of a
        centavo (``Decimal("1000.005")``); never rounded.
    """
    if isinstance(pesos, bool) or not isinstance(pesos, Decimal | int | str):
        raise NotCentavos(f"{pesos!r} is not an amount in pesos.")
    try:
        value = Decimal(pesos)
    except InvalidOperation:
        raise NotCentavos(f"{pesos!r} is not an amount in pesos.") from None
    if not value.is_finite():
        raise NotCentavos(f"{pesos!r} is not a finite amount.")
    centavos = value * CENTAVOS_PER_PESO
    if centavos != centavos.to_integral_value():
        raise NotCentavos(f"₱{value} is not a whole number of centavos.")
    return _bounded(int(centavos))


def from_centavos(centavos: int) -> Decimal:
    """``500000`` → ``Decimal("5000.00")`` (always two places).

    :raise NotCentavos: not an ``int`` (a float, a string or a bool is refused), negative
        or too large.
    """
    if isinstance(centavos, bool) or not isinstance(centavos, int):
        raise NotCentavos(f"{centavos!r} is not a whole number of centavos.")
    return Decimal(_bounded(centavos)).scaleb(-2)


def _bounded(centavos: int) -> int:
    if not 0 <= centavos <= MAX_CENTAVOS:
        raise NotCentavos(f"{centavos} centavos is outside 0 to {MAX_CENTAVOS}.")
    return centavos
