"""Database rules that hold whatever the application does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.models import Consultation, Payment, utcnow


def _payment(patient_id, consultation_id, status="pending"):
    return Payment(
        user_id=patient_id,
        consultation_id=consultation_id,
        amount=Decimal("5000.00"),
        payment_method="gcash",
        status=status,
    )


@pytest.fixture
def data(factory):
    patient = factory.patient()
    return patient, factory.consultation(patient)


def test_the_index_refuses_a_second_active_payment_but_allows_failed_ones(app, data):
    patient, consultation = data
    with app.app_context():
        for status in ("failed", "failed", "expired", "refunded", "pending"):
            db.session.add(_payment(patient.id, consultation.id, status))
        db.session.commit()
        db.session.add(_payment(patient.id, consultation.id, "completed"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_a_soft_deleted_payment_is_not_active(app, data):
    patient, consultation = data
    with app.app_context():
        old = _payment(patient.id, consultation.id)
        old.deleted_at = utcnow()
        db.session.add(old)
        db.session.add(_payment(patient.id, consultation.id))
        db.session.commit()


def test_a_fee_under_1000_is_refused_by_the_database(app, data):
    patient, _ = data
    with app.app_context():
        db.session.add(
            Consultation(
                patient_id=patient.id,
                doctor_name="X",
                scheduled_at=utcnow() + timedelta(1),
                fee=Decimal("999.99"),
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_the_version_column_is_bumped_by_sqlalchemy_and_stale_writes_fail(app, data):
    patient, consultation = data
    with app.app_context():
        payment = _payment(patient.id, consultation.id)
        db.session.add(payment)
        db.session.commit()
        assert payment.version == 1
        payment.status = "processing"
        db.session.commit()
        assert payment.version == 2
        db.session.execute(
            db.text("UPDATE payments SET version = 7 WHERE id = :i"), {"i": payment.id}
        )
        payment.status = "completed"
        with pytest.raises(StaleDataError):
            db.session.commit()
        db.session.rollback()
