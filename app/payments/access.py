"""Who may see or pay for what: the one home of these rules for API, pages, gateway and service.

- A payment is visible to the patient who made it and to staff.
- A consultation is paid for by its own patient only; staff may not pay.

Another patient's consultation or payment is reported as not found, so ids
cannot be probed for existence.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.i18n import N_, Phrase
from app.models import Consultation, Payment, User
from app.payments.errors import ConsultationNotFound, NotYourConsultation, PaymentNotFound
from app.payments.requests import MAX_ID


def may_see(user: User, payment: Payment) -> bool:
    """The payment's own patient, or staff."""
    return payment.user_id == user.id or user.is_staff


def visible_payment(session: Session, user: User, payment_id: int) -> Payment:
    """The payment, if ``user`` may see it (``may_see``).

    :raise PaymentNotFound: missing, or another patient's.
    """
    payment = session.get(Payment, payment_id) if 1 <= payment_id <= MAX_ID else None
    if payment is None or not may_see(user, payment):
        raise PaymentNotFound(Phrase(N_("Payment %(id)s does not exist."), id=payment_id))
    return payment


def payable_consultation(session: Session, user: User | int, consultation_id: int) -> Consultation:
    """The consultation, if ``user`` (a user or a user id) is its patient, the one who may pay.

    The user's row is read only when the consultation is someone else's (staff or not?).

    :raise ConsultationNotFound: missing, or another patient's.
    :raise NotYourConsultation: ``user`` is staff; staff do not pay.
    """
    consultation = session.get(Consultation, consultation_id)
    check_payer(session, user, consultation_id, consultation.patient_id if consultation else None)
    return consultation


def check_payer(
    session: Session, user: User | int, consultation_id: int, patient_id: int | None
) -> None:
    """``payable_consultation``'s rule for a consultation already read: ``patient_id`` is its
    patient's id, None when there is no such consultation.

    :raise ConsultationNotFound: missing, or another patient's.
    :raise NotYourConsultation: ``user`` is staff; staff do not pay.
    """
    user_id = user if isinstance(user, int) else user.id
    if patient_id is not None and patient_id == user_id:
        return
    someone = session.get(User, user_id) if isinstance(user, int) else user
    if patient_id is None or someone is None or not someone.is_staff:
        raise ConsultationNotFound(
            Phrase(N_("Consultation %(id)s does not exist."), id=consultation_id)
        )
    raise NotYourConsultation(N_("Staff cannot pay for a patient's consultation."))
