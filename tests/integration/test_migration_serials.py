"""Migration 0012 on existing data, on both dialects: invoice numbers become payment references,
sales already made get serials in capture order, refunds already requested get credit memos."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.config import ROOT
from app.extensions import db
from tests.conftest import base_config

MIGRATIONS = str(ROOT / "migrations")
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# payment id: (status, completed after T0 by this many minutes, or None)
PAYMENTS = {
    1: ("completed", 30),
    2: ("failed", None),
    3: ("refunded", 10),
    4: ("completed", 20),
    5: ("pending", None),
}


@pytest.fixture(params=["postgresql", "sqlite"])
def database_at_0010(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        name = None
    else:
        postgres = request.getfixturevalue("postgres")
        name = f"m_{uuid.uuid4().hex[:12]}"
        url = postgres.create(name, template=None)
    app = create_app(base_config(url, None))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0010_payments_hosted_checkout")
        _insert_old_rows()
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()
    if name:
        request.getfixturevalue("postgres").drop(name)


def _insert_old_rows() -> None:
    run = lambda sql, **p: db.session.execute(text(sql), p)  # noqa: E731
    run(
        "INSERT INTO users (id, email, name, password_hash, role, session_token, created_at) "
        "VALUES (1, 'p@example.test', 'P', 'x', 'patient', 'tok', :t)",
        t=T0,
    )
    for pid, (status, minutes) in PAYMENTS.items():
        done = T0 + timedelta(minutes=minutes) if minutes is not None else None
        run(
            "INSERT INTO consultations (id, patient_id, doctor_name, scheduled_at, fee, currency,"
            " created_at) VALUES (:id, 1, 'Dr. A', :t, 5000, 'PHP', :t)",
            id=pid,
            t=T0,
        )
        run(
            "INSERT INTO payments (id, user_id, consultation_id, amount, currency, payment_method,"
            " status, version, created_at, updated_at, completed_at) VALUES (:id, 1, :id, 5000,"
            " 'PHP', 'gcash', :status, 1, :t, :t, :done)",
            id=pid,
            status=status,
            t=T0,
            done=done,
        )
        run(
            "INSERT INTO invoices (payment_id, user_id, invoice_number, amount, status, issued_at)"
            " VALUES (:id, 1, :number, 5000, 'pending', :t)",
            id=pid,
            number=f"INV-20261101090000-{pid}",
            t=T0,
        )
    run(
        "INSERT INTO provider_requests (kind, payment_id, amount, currency, reason,"
        " idempotency_key, state, attempts, next_attempt_at, created_at, updated_at)"
        " VALUES ('refund', 3, 5000, 'PHP', 'Doctor ill', 'refund-payment-3-1-abc', 'pending',"
        " 0, :t, :t, :t)",
        t=T0 + timedelta(hours=1),
    )


def test_0012_numbers_the_sales_already_made_in_capture_order(database_at_0010):
    app = database_at_0010
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0012_invoice_serials")
        rows = db.session.execute(
            text("SELECT payment_id, reference, serial, serial_number FROM invoices ORDER BY 1")
        ).all()
        memos = db.session.execute(
            text("SELECT payment_id, serial, serial_number, amount, reason FROM credit_memos")
        ).all()
        counters = dict(
            db.session.execute(text("SELECT series, last_serial FROM serial_counters")).all()
        )
        db.session.rollback()
    # captured 3 (+10 min), 4 (+20), 1 (+30): serials in that order; the others none
    assert [(r.payment_id, r.serial, r.serial_number) for r in rows] == [
        (1, 3, "000003"),
        (2, None, None),
        (3, 1, "000001"),
        (4, 2, "000002"),
        (5, None, None),
    ]
    assert [r.reference for r in rows] == [f"INV-20261101090000-{pid}" for pid in PAYMENTS]
    assert [(m.payment_id, m.serial, m.serial_number, m.reason) for m in memos] == [
        (3, 1, "CM-000001", "Doctor ill")
    ]
    assert counters == {"invoice": 3, "credit_memo": 1}


def test_0012_downgrades_back_to_invoice_numbers(database_at_0010):
    app = database_at_0010
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0012_invoice_serials")
        downgrade(directory=MIGRATIONS, revision="0010_payments_hosted_checkout")
        numbers = db.session.execute(
            text("SELECT invoice_number FROM invoices ORDER BY payment_id")
        ).scalars()
        assert list(numbers) == [f"INV-20261101090000-{pid}" for pid in PAYMENTS]
        db.session.rollback()
