"""The VAT migration recomputes existing tax records under the included rule, on both dialects.

What the patient paid (``payments.amount``) is the total, so an old record that said
"VAT 12% on ₱5,000.00 = ₱600.00" becomes VATable ₱4,464.29 + VAT ₱535.71 = ₱5,000.00.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.config import ROOT
from app.extensions import db
from tests.conftest import base_config

MIGRATIONS = str(ROOT / "migrations")
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def old_database(request, tmp_path):
    """An empty database migrated to 0001 only; yields its URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    name = f"m_{uuid.uuid4().hex[:12]}"
    url = postgres.create(name, template=None)
    yield url
    postgres.drop(name)


def _insert_old_rows() -> None:
    run = lambda sql, **p: db.session.execute(text(sql), p)  # noqa: E731
    run(
        "INSERT INTO users (id, email, name, password_hash, role, created_at) "
        "VALUES (1, 'p@example.test', 'P', 'x', 'patient', :t)",
        t=NOW,
    )
    for cid, fee in ((1, "5000.00"), (2, "1250.00")):
        run(
            "INSERT INTO consultations (id, patient_id, doctor_name, scheduled_at, fee, currency,"
            " created_at) VALUES (:id, 1, 'Dr. A', :t, :fee, 'PHP', :t)",
            id=cid,
            fee=fee,
            t=NOW,
        )
        run(
            "INSERT INTO payments (id, user_id, consultation_id, amount, currency, payment_method,"
            " status, version, created_at, updated_at) VALUES (:id, 1, :id, :fee, 'PHP', 'gcash',"
            " 'refunded', 1, :t, :t)",
            id=cid,
            fee=fee,
            t=NOW,
        )
        # the old rule: VAT = fee × rate, on top of a total that was the fee
        run(
            "INSERT INTO tax_records (id, payment_id, user_id, amount, tax_type, rate, status,"
            " created_at) VALUES (:id, :id, 1, :vat, 'VAT', 0.12, 'reversed', :t)",
            id=cid,
            vat=str((Decimal(fee) * Decimal("0.12")).quantize(Decimal("0.01"))),
            t=NOW,
        )
    run(
        "INSERT INTO gateway_events (event_id, event_type, payment_id, payload, received_at, note)"
        " VALUES ('evt_old', 'payment.succeeded', 1, '{}', :t, 'refused: Payment 1 is refunded.')",
        t=NOW,
    )
    db.session.commit()


def test_existing_tax_records_are_recomputed_with_vat_included(old_database):
    app = create_app(base_config(old_database, None))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0001")
        _insert_old_rows()
        upgrade(directory=MIGRATIONS)
        taxes = db.session.execute(
            text(
                "SELECT payment_id, taxable_base, amount, prices_include_vat FROM tax_records"
                " ORDER BY payment_id"
            )
        ).all()
        event = db.session.execute(text("SELECT outcome, note FROM gateway_events")).one()
        # the new payment state is allowed by the database's check constraint
        db.session.execute(text("UPDATE payments SET status = 'cancelled' WHERE id = 2"))
        db.session.commit()
        db.engine.dispose()
    assert [(p, Decimal(str(b)), Decimal(str(v)), bool(i)) for p, b, v, i in taxes] == [
        (1, Decimal("4464.29"), Decimal("535.71"), True),
        (2, Decimal("1116.07"), Decimal("133.93"), True),
    ]
    assert tuple(event) == ("refused", "Payment 1 is refunded.")
