"""Amounts on a provider's wire, one codec per provider; ``Decimal`` pesos inside the app.

- ``CENTAVOS`` (PayMongo): every amount is a whole number of centavos, ₱5,000.00 is
  ``500000`` (https://developers.paymongo.com/reference/refund-resource,
  https://developers.paymongo.com/reference/payment-source); its amount fields are
  32-bit integers (the refund resource page says int32).
- ``DECIMAL_PESOS`` (Xendit): the amount is a JSON number in the currency's major unit,
  ₱5,000.00 is ``5000`` and ₱10,000.01 is ``10000.01``
  (https://docs.xendit.co/apidocs/create-session, https://docs.xendit.co/apidocs/create-payment-request
  shows ``request_amount: 10000.01``). Xendit documents no upper bound; ours is what a
  ``Numeric(12, 2)`` column holds.

An amount that is not a whole number of centavos is refused rather than rounded
(₱1,000.005 is refused): rounding at this edge would charge or refund a patient a
different amount from the one we stored. What a provider sends back is read with the
same rule, so a fraction of a centavo in its answer is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation

CENTAVOS_PER_PESO = 100
#: The largest amount PayMongo takes or reports, in centavos (₱21,474,836.47): int32.
MAX_CENTAVOS = 2**31 - 1
#: The largest amount sent to or read from Xendit: ten digits before the point, as
#: our ``Numeric(12, 2)`` money columns hold.
MAX_PESOS = Decimal("9999999999.99")
_CENTAVO = Decimal("0.01")


class NotAnAmount(ValueError):
    """An amount that is not a whole, non-negative number of centavos within bounds."""


def pesos_of(value: Decimal | int | str) -> Decimal:
    """``value`` as ``Decimal`` pesos with two places, checked.

    :raise NotAnAmount: not a ``Decimal``, ``int`` or ``str`` (a float or a bool is refused),
        not a finite number, negative, or a fraction of a centavo; never rounded.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise NotAnAmount(f"{value!r} is not an amount in pesos.")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise NotAnAmount(f"{value!r} is not an amount in pesos.") from None
    if not amount.is_finite():
        raise NotAnAmount(f"{value!r} is not a finite amount.")
    if amount < 0:
        raise NotAnAmount(f"₱{amount} is negative.")
    try:
        whole = amount.quantize(_CENTAVO, rounding=ROUND_DOWN)
    except InvalidOperation:  # more digits than a Decimal context holds: no amount of ours
        raise NotAnAmount(f"{str(value)[:40]!r} is too large an amount.") from None
    if amount != whole:
        raise NotAnAmount(f"₱{amount} is not a whole number of centavos.")
    return whole


@dataclass(frozen=True)
class Centavos:
    """PayMongo's integers: pesos ↔ whole centavos (``Decimal("5000.00")`` ↔ ``500000``)."""

    maximum: int = MAX_CENTAVOS

    def encode(self, pesos: Decimal | int | str) -> int:
        """Pesos → centavos. :raise NotAnAmount: see ``pesos_of``; or above ``maximum``."""
        return self._bounded(int(pesos_of(pesos) * CENTAVOS_PER_PESO))

    def decode(self, centavos: object) -> Decimal:
        """Centavos as sent (an ``int``) → pesos with two places.

        :raise NotAnAmount: not an ``int`` (a float, a string or a bool is refused),
            negative or above ``maximum``.
        """
        if isinstance(centavos, bool) or not isinstance(centavos, int):
            raise NotAnAmount(f"{centavos!r} is not a whole number of centavos.")
        return Decimal(self._bounded(centavos)).scaleb(-2)

    def _bounded(self, centavos: int) -> int:
        if not 0 <= centavos <= self.maximum:
            raise NotAnAmount(f"{centavos} centavos is outside 0 to {self.maximum}.")
        return centavos


@dataclass(frozen=True)
class DecimalPesos:
    """Xendit's JSON numbers in pesos: ``Decimal("5000.00")`` ↔ ``5000``, ``Decimal("0.01")``
    ↔ ``0.01``.

    A JSON library writes a number from an ``int`` or a ``float``; ``encode`` gives an
    ``int`` for whole pesos and otherwise a ``float`` whose shortest text is exactly the
    amount (checked, so what goes on the wire is the stored amount digit for digit).
    ``decode`` takes what ``json.loads(..., parse_float=Decimal)`` gives: an ``int`` or a
    ``Decimal``; a Python ``float`` is refused, since its digits are already a guess.
    """

    maximum: Decimal = MAX_PESOS

    def encode(self, pesos: Decimal | int | str) -> int | float:
        """Pesos → the JSON number to send. :raise NotAnAmount: see ``pesos_of``; or too large."""
        amount = self._bounded(pesos_of(pesos))
        if amount == amount.to_integral_value():
            return int(amount)
        number = float(amount)
        if Decimal(repr(number)) != amount:
            raise NotAnAmount(f"₱{amount} has no exact JSON number.")
        return number

    def decode(self, value: object) -> Decimal:
        """A JSON number as read (``int`` or ``Decimal``) → pesos with two places.

        :raise NotAnAmount: a float, a bool, a string, a fraction of a centavo, negative
            or too large.
        """
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise NotAnAmount(f"{value!r} is not a JSON number read exactly.")
        return self._bounded(pesos_of(value))

    def _bounded(self, amount: Decimal) -> Decimal:
        if amount > self.maximum:
            raise NotAnAmount(f"₱{amount} is more than ₱{self.maximum}.")
        return amount


CENTAVOS = Centavos()
DECIMAL_PESOS = DecimalPesos()
