"""Recording a patient's senior citizen (OSCA) or PWD ID: the one service staff pages and
``flask users set-discount`` call.

Staff record the card's ID number and the holder's name after seeing the card (RA 9994
§4(a) and RA 7277 §32 as amended by RA 10754 grant the discount on presenting it); from then
on the patient's checkout charges the discounted amount (app/payments/pricing.py). Clearing
it changes no payment already made: each sale keeps its own copy (``SaleDiscount``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import audit
from app.db import transaction
from app.extensions import db
from app.i18n import N_
from app.models import AuditAction, DiscountCard, User, utcnow
from app.payments.pricing import DiscountKind
from app.payments.requests import forbidden_character

log = logging.getLogger("app.discounts")

#: An OSCA or PWD ID number as printed: letters, digits, and the separators cards use
#: (``-``, ``/``, ``.``, spaces), 1 to 32 characters, starting with a letter or digit.
ID_NUMBER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9 ./-]{0,31}"
MAX_HOLDER_NAME = 120


class InvalidCard(ValueError):
    """What staff entered cannot be recorded; ``errors`` maps each field to its message
    (English, marked for translation)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class CardDetails:
    kind: DiscountKind
    id_number: str
    holder_name: str


def parse_card(kind: object, id_number: object, holder_name: object) -> CardDetails:
    """Check the three fields, collecting every problem.

    :raise InvalidCard: a field is missing or malformed; nothing is written.
    """
    errors: dict[str, str] = {}
    if kind not in tuple(DiscountKind):
        errors["kind"] = N_("Choose senior citizen or PWD.")
    number = id_number.strip() if isinstance(id_number, str) else ""
    if not re.fullmatch(ID_NUMBER_PATTERN, number):
        errors["id_number"] = N_(
            "Enter the ID number as printed on the card: 1 to 32 letters, digits, spaces or . / -"
        )
    name = " ".join(holder_name.split()) if isinstance(holder_name, str) else ""
    if not name or len(name) > MAX_HOLDER_NAME or forbidden_character(name):
        errors["holder_name"] = N_("Enter the name on the card (at most 120 characters).")
    if errors:
        raise InvalidCard(errors)
    return CardDetails(DiscountKind(kind), number, name)


class NoSuchPatient(LookupError):
    """No patient has that email (staff accounts hold no discount)."""


def _patient(session, email: str) -> User:
    user = session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None or user.is_staff:
        raise NoSuchPatient(email)
    return user


def record_card(email: str, details: CardDetails, *, actor: str) -> DiscountCard:
    """Record (or replace) the card of the patient with ``email``. ``actor``: who saw it
    (``user:12`` or ``cli``).

    :raise NoSuchPatient: no patient has that email.
    """
    with transaction() as session:
        patient = _patient(session, email)
        card = session.get(DiscountCard, patient.id, with_for_update=True)
        if card is None:
            card = DiscountCard(user_id=patient.id)
            session.add(card)
        card.kind, card.id_number = details.kind.value, details.id_number
        card.holder_name, card.recorded_by, card.recorded_at = details.holder_name, actor, utcnow()
        # In the change's own transaction: no card change without its audit row.
        audit.record(
            AuditAction.DISCOUNT_CHANGED,
            actor=actor,
            patient_id=patient.id,
            session=session,
            change="recorded",
            kind=details.kind.value,
        )
    log.info("discount.card_recorded user_id=%s kind=%s by=%s", patient.id, details.kind, actor)
    return card


def clear_card(email: str, *, actor: str) -> bool:
    """Remove the patient's card; False when there was none.

    :raise NoSuchPatient: no patient has that email.
    """
    with transaction() as session:
        patient = _patient(session, email)
        card = session.get(DiscountCard, patient.id, with_for_update=True)
        if card is not None:
            session.delete(card)
            audit.record(
                AuditAction.DISCOUNT_CHANGED,
                actor=actor,
                patient_id=patient.id,
                session=session,
                change="cleared",
            )
    log.info(
        "discount.card_cleared user_id=%s by=%s existed=%s", patient.id, actor, card is not None
    )
    return card is not None


def recorded_cards() -> list[DiscountCard]:
    """Every recorded card with its patient, by holder name."""
    return list(
        db.session.execute(
            select(DiscountCard)
            .options(joinedload(DiscountCard.user))
            .order_by(DiscountCard.holder_name)
        ).scalars()
    )
