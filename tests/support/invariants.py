"""What must hold after any storm or fault, checked straight in the database."""

from __future__ import annotations

from sqlalchemy import func, select, text

from app.extensions import db
from app.models import ACTIVE_PAYMENT_PREDICATE, IdempotencyKey, Invoice, Payment, TaxRecord


def check_invariants(app) -> dict[str, int]:
    """Raise AssertionError on any broken invariant; return row counts."""
    with app.app_context():
        q = lambda sql: db.session.execute(text(sql)).all()  # noqa: E731
        doubled = q(
            "SELECT consultation_id, count(*) FROM payments "
            f"WHERE {ACTIVE_PAYMENT_PREDICATE} "
            "GROUP BY consultation_id HAVING count(*) > 1"
        )
        assert not doubled, f"consultations with more than one active payment: {doubled}"
        orphans = q(
            "SELECT p.id FROM payments p LEFT JOIN invoices i ON i.payment_id = p.id "
            "LEFT JOIN tax_records t ON t.payment_id = p.id "
            "WHERE i.id IS NULL OR t.id IS NULL"
        )
        assert not orphans, f"payments without invoice or tax record: {orphans}"
        stuck = q("SELECT id FROM idempotency_keys WHERE state <> 'completed'")
        assert not stuck, f"idempotency keys left unfinished: {stuck}"
        counts = {
            table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("payments", "invoices", "tax_records", "idempotency_keys")
        }
        db.session.rollback()
    assert counts["payments"] == counts["invoices"] == counts["tax_records"], counts
    check_serials(app)
    return counts


def serial_runs(app) -> dict[tuple[str, str], list[int]]:
    """Every issued serial, sorted, by (series, branch): invoices and credit memos."""
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT 'invoice', branch_code, serial FROM invoices WHERE serial IS NOT NULL "
                "UNION ALL SELECT 'credit_memo', branch_code, serial FROM credit_memos"
            )
        ).all()
        db.session.rollback()
    runs: dict[tuple[str, str], list[int]] = {}
    for series, branch, serial in rows:
        runs.setdefault((series, branch), []).append(serial)
    return {key: sorted(serials) for key, serials in runs.items()}


def gaps_and_duplicates(serials: list[int]) -> tuple[list[int], list[int]]:
    """The numbers missing from 1..max(serials), and those issued more than once."""
    seen = set(serials)
    missing = [n for n in range(1, max(serials, default=0) + 1) if n not in seen]
    doubled = sorted({n for n in serials if serials.count(n) > 1})
    return missing, doubled


def check_serials(app) -> dict[tuple[str, str], int]:
    """Each branch's invoice and credit memo serials are one run 1..N (no gap, no duplicate,
    the counter at N), every captured payment has a serial and no uncaptured one does, and no
    payment's credit memos (refunds not failed) add up to more than was captured."""
    runs = serial_runs(app)
    for key, serials in runs.items():
        assert gaps_and_duplicates(serials) == ([], []), (key, gaps_and_duplicates(serials))
    with app.app_context():
        q = lambda sql: db.session.execute(text(sql)).all()  # noqa: E731
        counters = dict(((s, b), n) for s, b, n in q("SELECT * FROM serial_counters"))
        unnumbered = q(
            "SELECT p.id, p.status, i.serial FROM payments p JOIN invoices i ON i.payment_id = p.id "
            "WHERE (p.status IN ('completed', 'refunded')) <> (i.serial IS NOT NULL)"
        )
        over = q(
            "SELECT p.id, p.amount, sum(r.amount) FROM payments p "
            "JOIN provider_requests r ON r.payment_id = p.id AND r.state <> 'failed' "
            "GROUP BY p.id, p.amount HAVING sum(r.amount) > p.amount"
        )
        db.session.rollback()
    assert {key: len(serials) for key, serials in runs.items()} == {
        key: n for key, n in counters.items() if n
    }, (runs, counters)
    assert not unnumbered, f"captured without a serial, or a serial without a capture: {unnumbered}"
    assert not over, f"refunded more than was captured: {over}"
    return {key: len(serials) for key, serials in runs.items()}


# Each payment status with the invoice and tax record statuses that must go with it.
_CONSISTENT_STATES = {
    "pending": ("pending", "calculated"),
    "processing": ("pending", "calculated"),
    "completed": ("paid", "calculated"),
    "failed": ("void", "calculated"),
    "expired": ("void", "calculated"),
    "cancelled": ("void", "calculated"),
    "refunded": ("refunded", "reversed"),
}


def check_payment_states(app) -> dict[str, int]:
    """Every payment's invoice and tax record agree with its status; return status counts.

    A completed (or refunded) payment has its transaction id, completion time and
    paid time; no other payment does.
    """
    check_invariants(app)
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT p.id, p.status, i.status, t.status, p.transaction_id, "
                "p.completed_at, i.paid_at FROM payments p "
                "JOIN invoices i ON i.payment_id = p.id JOIN tax_records t ON t.payment_id = p.id"
            )
        ).all()
        db.session.rollback()
    counts: dict[str, int] = {}
    for pid, status, invoice, tax, txn, completed_at, paid_at in rows:
        assert (invoice, tax) == _CONSISTENT_STATES[status], (pid, status, invoice, tax)
        paid = status in ("completed", "refunded")
        assert (txn is not None, completed_at is not None, paid_at is not None) == (
            paid,
            paid,
            paid,
        ), (pid, status, txn, completed_at, paid_at)
        counts[status] = counts.get(status, 0) + 1
    return counts


def row_counts(app) -> dict[str, int]:
    """Rows in every table, in one round trip: "changed nothing" means these are equal."""
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables]
        selects = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
        row = db.session.execute(text(f"SELECT {selects}")).one()
        db.session.rollback()
    return dict(zip(tables, row, strict=True))


def payment_row_counts(app) -> dict[str, int]:
    """Rows of the tables a payment writes: payments, invoices, tax records, idempotency keys."""
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Payment, Invoice, TaxRecord, IdempotencyKey)
        }
