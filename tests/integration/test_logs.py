"""Logs never carry passwords, tokens, raw idempotency keys or patient details."""

from __future__ import annotations

import logging

from sqlalchemy import text

from app.extensions import db
from app.payments import service
from tests.support.factory import auth


def test_an_unexpected_database_error_logs_where_and_sqlstate_but_not_the_value(
    app, client, factory, caplog, monkeypatch
):
    # given a statement that fails with a patient's email among its parameters
    patient = factory.patient(email="maria.santos@example.test")
    consultation = factory.consultation(patient)

    def broken_insert(session, *args, **kwargs):
        session.execute(text("SELECT CAST(:v AS integer)"), {"v": patient.email})

    monkeypatch.setattr(service, "_insert_payment", broken_insert)
    caplog.set_level(logging.DEBUG)
    # when a payment hits it
    response = client.post(
        "/api/v1/payments",
        json={"consultation_id": consultation.id, "payment_method": "gcash"},
        headers=auth(patient),
    )
    # then the client gets a clear 500 and the log says where, not what
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "unhandled database error on POST /api/v1/payments" in caplog.text
    assert "sqlstate=22P02" in caplog.text
    assert "at app/payments/service.py:" in caplog.text
    assert patient.email not in caplog.text
    with app.app_context():
        db.session.rollback()
