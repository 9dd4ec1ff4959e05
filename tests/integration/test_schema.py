"""Migrations and models agree, and the migrations run on empty PostgreSQL and SQLite."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.extensions import db


def test_autogenerate_finds_no_difference_between_migrations_and_models(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_the_partial_unique_index_exists_on_postgresql_with_its_predicate(app):
    with app.app_context():
        definition = db.session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
            {"n": "uq_payments_one_active_per_consultation"},
        ).scalar_one()
    assert definition.startswith("CREATE UNIQUE INDEX")
    assert "status" in definition and "deleted_at IS NULL" in definition


def test_migrations_run_on_an_empty_sqlite_file(sqlite_app):
    with sqlite_app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {
        "users",
        "consultations",
        "payments",
        "invoices",
        "tax_records",
        "idempotency_keys",
        "payment_events",
    } <= tables
