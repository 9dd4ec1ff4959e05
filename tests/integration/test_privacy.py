"""`flask privacy purge`: past DATA_RETENTION_YEARS a patient's personal data is anonymised,
the books (amounts, statuses, invoice numbers) stay whole; a dry run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from app.extensions import db
from app.privacy import ANONYMOUS_NAME, retention_cutoff
from tests.support.auth import AuthActions
from tests.support.invoices import invoice_number_of

LONG_AGO = "2012-03-04 05:06:07+00"
AGED = {
    "users": ("created_at", "id = :patient"),
    "consultations": ("created_at", "patient_id = :patient"),
    "payments": ("created_at", "user_id = :patient"),
    "invoices": ("issued_at", "user_id = :patient"),
    "payment_events": (
        "created_at",
        "payment_id IN (SELECT id FROM payments WHERE user_id = :patient)",
    ),
    "audit_events": ("at", "patient_id = :patient OR actor_id = :patient"),
}


def snapshot(app, sql: str) -> list[tuple]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(text(sql))]


BOOKS = (
    "SELECT i.reference, i.amount, i.status, p.amount, p.status, p.transaction_id, "
    "t.amount, t.taxable_base, t.status FROM invoices i JOIN payments p ON p.id = i.payment_id "
    "LEFT JOIN tax_records t ON t.payment_id = p.id ORDER BY i.reference"
)
TOTALS = "SELECT status, count(*), sum(amount) FROM invoices GROUP BY status ORDER BY status"
EVERYTHING = [
    "SELECT * FROM users ORDER BY id",
    "SELECT * FROM payments ORDER BY id",
    "SELECT id, data::text FROM payment_events ORDER BY id",
    "SELECT id, address, actor_label, detail::text FROM audit_events ORDER BY id",
]


@pytest.fixture
def clinic(app, api, factory):
    """An old patient (paid, refunded, viewed by staff) aged 14 years, and a recent one."""
    manager = factory.staff()
    old, recent = factory.patient(), factory.patient()
    ids = {}
    for who in (old, recent):
        payment_id = api.new_payment(who, factory.consultation(who))
        confirmed = api.confirm(
            manager, payment_id, transaction_id=f"txn_{who.id}", receipt_url="https://r.example/1"
        )
        assert confirmed.status_code == 200
        ids[who.id] = payment_id
    assert api.refund(manager, ids[old.id], reason="Mrs Cruz asked by phone").status_code == 200
    staff_client = AuthActions(app).client_for(manager)
    for who in (old, recent):
        number = invoice_number_of(app, ids[who.id])
        assert staff_client.get(f"/staff/invoices/{number}").status_code == 200
    with app.app_context():
        for table, (column, where) in AGED.items():
            db.session.execute(
                text(f"UPDATE {table} SET {column} = :at WHERE {where}"),
                {"at": LONG_AGO, "patient": old.id},
            )
        db.session.execute(
            text("UPDATE consultations SET scheduled_at = :at WHERE patient_id = :p"),
            {"at": LONG_AGO, "p": old.id},
        )
        db.session.commit()
    return old, recent


def test_the_cutoff_keeps_five_years_after_the_return_year():
    # a record of 2019: return due April 2020, kept 5 years from then, purged from 2026
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert retention_cutoff(now, 5) == datetime(2020, 1, 1, tzinfo=UTC)


def test_a_dry_run_reports_and_changes_nothing(app, runner, clinic):
    before = [snapshot(app, sql) for sql in EVERYTHING]
    result = runner.invoke(args=["privacy", "purge"])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    assert "patients: 1" in result.output
    assert [snapshot(app, sql) for sql in EVERYTHING] == before


def test_applying_anonymises_the_old_patient_and_keeps_the_books_whole(app, runner, clinic):
    old, recent = clinic
    books, totals = snapshot(app, BOOKS), snapshot(app, TOTALS)
    recent_rows = snapshot(app, f"SELECT * FROM users WHERE id = {recent.id}")
    # when the purge is applied
    result = runner.invoke(args=["privacy", "purge", "--apply"])
    assert result.exit_code == 0, result.output
    # then the books are exactly as they were
    assert snapshot(app, BOOKS) == books
    assert snapshot(app, TOTALS) == totals
    # the old patient's personal data is gone, the recent patient's untouched
    ((name, email, active),) = snapshot(
        app, f"SELECT name, email, active FROM users WHERE id = {old.id}"
    )
    assert (name, active) == (ANONYMOUS_NAME, False) and old.email != email
    assert snapshot(app, f"SELECT * FROM users WHERE id = {recent.id}") == recent_rows
    receipts = dict(snapshot(app, "SELECT user_id, receipt_url FROM payments"))
    assert receipts == {old.id: None, recent.id: "https://r.example/1"}
    reasons = snapshot(app, "SELECT data::text FROM payment_events")
    assert not any("Mrs Cruz" in r for (r,) in reasons)
    addresses = dict(
        snapshot(
            app, "SELECT patient_id, address FROM audit_events WHERE action = 'invoice.viewed'"
        )
    )
    assert addresses[old.id] is None and addresses[recent.id] is not None
    # the anonymised patient cannot sign in, and a second run finds nothing to do
    assert (
        app.test_client()
        .post("/login", data={"email": old.email, "password": "x" * 10})
        .status_code
        == 200
    )
    again = runner.invoke(args=["privacy", "purge", "--apply"])
    assert all(line.endswith(": 0") for line in again.output.splitlines()[1:]), again.output


def test_a_retention_shorter_than_the_tax_code_is_refused(make_app, monkeypatch):
    from app.config import ConfigError

    monkeypatch.setenv("DATA_RETENTION_YEARS", "3")
    with pytest.raises(ConfigError, match="NIRC"):
        make_app()
