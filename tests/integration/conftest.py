"""Fixtures several integration test modules share (the rest are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.auth import AuthActions
from tests.support.invoices import invoice_number_of


@pytest.fixture
def patient_client(app, patient):
    """A client whose session is the ``patient`` fixture's (the module's own, if it has one)."""
    return AuthActions(app).session_for(patient)


@pytest.fixture
def paid(api, app, client, factory):
    """A completed payment, its invoice number, and a logged-in staff client."""
    patient, staff = factory.patient(), factory.staff()
    consultation = factory.consultation(patient)
    payment_id = api.new_payment(patient, consultation, method="stripe")
    assert api.confirm(staff, payment_id, transaction_id="txn_refund_1").status_code == 200
    number = invoice_number_of(app, payment_id)
    return payment_id, number, AuthActions(app).client_for(staff), patient
