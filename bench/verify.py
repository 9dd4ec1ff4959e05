"""What the database says after a scenario: duplicates, payments made, integrity."""

from __future__ import annotations

import psycopg

ACTIVE = "status IN ('pending', 'processing', 'completed') AND deleted_at IS NULL"


def duplicates(conn: psycopg.Connection, first: int, last: int) -> dict[str, int]:
    """Consultations in [first, last] with more than one active payment, and the extra rows."""
    row = conn.execute(
        f"""
        SELECT count(*), coalesce(sum(n - 1), 0) FROM (
            SELECT count(*) AS n FROM payments
            WHERE consultation_id BETWEEN %s AND %s AND {ACTIVE}
            GROUP BY consultation_id HAVING count(*) > 1) AS d
        """,
        (first, last),
    ).fetchone()
    return {"consultations": int(row[0]), "extra_payments": int(row[1])}


def active_payments(conn: psycopg.Connection, consultation_id: int) -> int:
    return conn.execute(
        f"SELECT count(*) FROM payments WHERE consultation_id = %s AND {ACTIVE}",
        (consultation_id,),
    ).fetchone()[0]


def payments_in(conn: psycopg.Connection, first: int, last: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM payments WHERE consultation_id BETWEEN %s AND %s", (first, last)
    ).fetchone()[0]


def integrity(conn: psycopg.Connection) -> dict[str, int]:
    """Rows the service must never leave behind, whatever the load."""
    orphans = conn.execute(
        "SELECT count(*) FROM payments p LEFT JOIN invoices i ON i.payment_id = p.id "
        "LEFT JOIN tax_records t ON t.payment_id = p.id WHERE i.id IS NULL OR t.id IS NULL"
    ).fetchone()[0]
    unfinished = conn.execute(
        "SELECT count(*) FROM idempotency_keys WHERE state <> 'completed'"
    ).fetchone()[0]
    return {"payments_without_invoice_or_tax": orphans, "unfinished_keys": unfinished}
