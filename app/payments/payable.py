"""The consultation a create is for, as the checkout reads it: one Core statement, no ORM.

A create needs only a few of the consultation's columns (who may pay, the fee, the
currency), the patient's discount card (the price), and the consultation's committed
active payment (the early refusal). They are read together, as plain values: nothing is
loaded into the session, and a storm's refusals build no ORM objects at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from app.i18n import N_, Phrase
from app.models import ACTIVE_STATUSES, Consultation, DiscountCard, Payment, PaymentStatus
from app.payments.errors import InvalidPaymentRequest
from app.payments.pricing import Sale, current_sale

_CONSULTATIONS = Consultation.__table__
_CARDS = DiscountCard.__table__
_PAYMENTS = Payment.__table__


class Card(NamedTuple):
    """The patient's senior citizen or PWD card, as a sale's discount record copies it."""

    kind: str
    id_number: str
    holder_name: str


@dataclass(frozen=True)
class PaymentFacts:
    """What a checkout reads of one of the consultation's payments (active or refunded)."""

    id: int
    consultation_id: int
    status: str
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """``Payment.is_active`` for these values."""
        return self.status in ACTIVE_STATUSES and self.deleted_at is None

    def is_stale_pending(self, cutoff: datetime) -> bool:
        """``Payment.is_stale_pending`` for these values (``lifecycle.is_stale`` asks it):
        the model's own rule, run on this object."""
        # The hybrid's instance side (read from the class dict: on the class it is SQL).
        return vars(Payment)["is_stale_pending"].__get__(self, PaymentFacts)(cutoff)


@dataclass(frozen=True)
class Payable:
    """A consultation as a create reads it. ``active`` is its committed active payment when
    it was read with one (``read(with_active=True)``); ``card`` the patient's discount card."""

    id: int
    patient_id: int
    fee: Decimal
    currency: str
    card: Card | None
    active: PaymentFacts | None

    @cached_property
    def sale(self) -> Sale:
        """What the patient is charged (with their card's discount), computed once."""
        return current_sale(self.fee, self.card.kind if self.card else None)

    def check_amount(self, amount: Decimal | None) -> None:
        """:raise InvalidPaymentRequest: 422, the client sent an amount other than the charge."""
        if amount is None:
            return  # nothing sent, nothing to price now (a refusal never needs the price)
        sale = self.sale
        if amount == sale.total:
            return
        total = sale.total
        if sale.discounted:
            what, detail = (
                "discounted fee",
                N_("The amount must equal the discounted fee of %(total)s PHP."),
            )
        elif total == self.fee:
            what, detail = (
                "consultation fee",
                N_("The amount must equal the consultation fee of %(total)s PHP."),
            )
        else:
            what, detail = (
                "fee plus VAT",
                N_("The amount must equal the fee plus VAT of %(total)s PHP."),
            )
        raise InvalidPaymentRequest(
            Phrase(detail, total=total), errors={"amount": f"Must equal the {what} ({total})."}
        )


def _statement(with_active: bool):
    consultation = _CONSULTATIONS.outerjoin(_CARDS, _CARDS.c.user_id == _CONSULTATIONS.c.patient_id)
    columns = [
        _CONSULTATIONS.c.id,
        _CONSULTATIONS.c.patient_id,
        _CONSULTATIONS.c.fee,
        _CONSULTATIONS.c.currency,
        _CARDS.c.kind.label("card_kind"),
        _CARDS.c.id_number.label("card_id_number"),
        _CARDS.c.holder_name.label("card_holder_name"),
    ]
    if with_active:
        # The partial unique index allows one active payment: at most one row.
        consultation = consultation.outerjoin(
            _PAYMENTS, and_(_PAYMENTS.c.consultation_id == _CONSULTATIONS.c.id, Payment.is_active)
        )
        columns += [
            _PAYMENTS.c.id.label("payment_id"),
            _PAYMENTS.c.status.label("payment_status"),
            _PAYMENTS.c.created_at.label("payment_created_at"),
        ]
    return (
        select(*columns)
        .select_from(consultation)
        .where(_CONSULTATIONS.c.id == bindparam("consultation_id"))
    )


# Built once (SQLAlchemy memoizes a statement's cache key on the object).
_PAYABLE = _statement(with_active=False)
_PAYABLE_WITH_ACTIVE = _statement(with_active=True)


def read(session: Session, consultation_id: int, *, with_active: bool) -> Payable | None:
    """The consultation (None if there is none), with its committed active payment when
    ``with_active``: one round trip on the session's connection."""
    statement = _PAYABLE_WITH_ACTIVE if with_active else _PAYABLE
    row = session.connection().execute(statement, {"consultation_id": consultation_id}).first()
    if row is None:
        return None
    active = None
    if with_active and row.payment_id is not None:
        active = PaymentFacts(row.payment_id, row.id, row.payment_status, row.payment_created_at)
    return Payable(row.id, row.patient_id, row.fee, row.currency, _card(row), active)


def _card(row: Row) -> Card | None:
    if row.card_kind is None:
        return None
    return Card(row.card_kind, row.card_id_number, row.card_holder_name)


# The re-check under the guard: the consultation's active payment and any refunded one,
# in one statement, read afresh (Core: no session state to refresh).
_ACTIVE_OR_REFUNDED = select(
    _PAYMENTS.c.id, _PAYMENTS.c.consultation_id, _PAYMENTS.c.status, _PAYMENTS.c.created_at
).where(
    Payment.consultation_id == bindparam("consultation_id"),
    or_(Payment.is_active, Payment.status == PaymentStatus.REFUNDED),
    Payment.deleted_at.is_(None),
)


def active_or_refunded(session: Session, consultation_id: int) -> list[PaymentFacts]:
    """The consultation's active payment and its refunded ones (none soft-deleted)."""
    rows = session.connection().execute(_ACTIVE_OR_REFUNDED, {"consultation_id": consultation_id})
    return [PaymentFacts(*row) for row in rows]
