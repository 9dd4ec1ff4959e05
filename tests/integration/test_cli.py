"""The flask CLI: users, tokens, consultations and the idempotent demo seed."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Consultation, Payment, User
from tests.support.invariants import check_invariants


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_users_create_and_token_give_a_working_api_token(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "Ana@Example.com",
            "--password",
            "long-enough",
            "--role",
            "patient",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "ana@example.com" in result.output
    token = runner.invoke(args=["users", "token", "ana@example.com"]).output.strip()
    assert token.startswith("cck_")
    response = app.test_client().get(
        "/api/v1/payments/1", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404  # authenticated; the payment does not exist


def test_users_create_refuses_duplicates_and_short_passwords(app, runner):
    runner.invoke(args=["users", "create", "--email", "a@b.c", "--password", "long-enough"])
    again = runner.invoke(args=["users", "create", "--email", "A@b.c", "--password", "long-enough"])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["users", "create", "--email", "x@b.c", "--password", "short"])
    assert short.exit_code != 0 and "8 characters" in short.output
    assert count(app, User) == 1


def test_consultations_create_prints_the_id_and_validates_the_fee(app, runner, factory):
    patient = factory.patient(email="p@example.test")
    ok = runner.invoke(
        args=[
            "consultations",
            "create",
            "--patient",
            "p@example.test",
            "--fee",
            "5000",
            "--doctor",
            "Dr. Who",
            "--at",
            "2026-12-01T09:30+08:00",
        ]
    )
    assert ok.exit_code == 0, ok.output
    with app.app_context():
        c = db.session.get(Consultation, int(ok.output.strip()))
        assert str(c.fee) == "5000.00" and c.patient_id == patient.id
    for fee in ("999", "abc", "NaN"):
        bad = runner.invoke(
            args=["consultations", "create", "--patient", "p@example.test", "--fee", fee]
        )
        assert bad.exit_code == 2, bad.output
    naive = runner.invoke(
        args=[
            "consultations",
            "create",
            "--patient",
            "p@example.test",
            "--fee",
            "5000",
            "--at",
            "2026-12-01T09:30",
        ]
    )
    assert naive.exit_code == 2
    assert count(app, Consultation) == 1


def test_demo_seed_twice_changes_nothing(app, runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "patient@example.com" in first.output
    users, consultations = count(app, User), count(app, Consultation)
    assert (users, consultations) == (3, 6)
    with app.app_context():
        statuses = sorted(db.session.scalars(select(Payment.status)))
    # staff have invoices to look at, a refunded one among them
    assert statuses == ["completed", "pending", "refunded"]
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    assert (count(app, User), count(app, Consultation)) == (users, consultations)
    assert count(app, Payment) == 3
    # and the refund worker `make dev` runs beside the server returns it at the sandbox
    sent = runner.invoke(args=["payments", "send-outbox"])
    assert sent.exit_code == 0 and "Sent 1 refund to the provider" in sent.output
    check_invariants(app)
