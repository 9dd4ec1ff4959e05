"""The invoice list at 100,000 invoices on PostgreSQL: its queries use indexes, the CSV streams.

The rows are made by SQL (generate_series, INSERT ... SELECT) in a few seconds,
once for the module, in a database of its own cloned from the migrated template.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import date

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.invoices.filters import Cursor, InvoiceFilter
from app.invoices.queries import list_statement, totals_statement
from tests.conftest import base_config
from tests.support.factory import PASSWORD, Factory

INVOICES = 100_000
PATIENTS = 2_000

BULK_SQL = [
    f"""
    INSERT INTO users (email, name, password_hash, role, session_token, created_at)
    SELECT 'patient' || g || '@bulk.test', 'Bulk Patient ' || g, 'x', 'patient',
           md5(random()::text || g), now()
    FROM generate_series(1, {PATIENTS}) g
    """,
    f"""
    INSERT INTO consultations (patient_id, doctor_name, scheduled_at, fee, currency, created_at)
    SELECT u0.id + g % {PATIENTS}, 'Dr. Bulk ' || g % 20,
           TIMESTAMPTZ '2026-01-01 00:00+00' + g * INTERVAL '4 minutes',
           1000 + (g % 50) * 100, 'PHP', now()
    FROM (SELECT min(id) AS id FROM users WHERE email LIKE '%@bulk.test') u0,
         generate_series(1, {INVOICES}) g
    """,
    # 78% paid, 10% pending, 10% void, 2% refunded; the four methods in turn.
    """
    INSERT INTO payments (user_id, consultation_id, amount, currency, payment_method, status,
                          version, created_at, updated_at, completed_at)
    SELECT c.patient_id, c.id, c.fee, 'PHP',
           (ARRAY['stripe', 'gcash', 'bank_transfer', 'e_wallet'])[1 + c.id % 4],
           CASE WHEN c.id % 50 = 0 THEN 'refunded' WHEN c.id % 10 = 1 THEN 'expired'
                WHEN c.id % 10 = 2 THEN 'pending' ELSE 'completed' END,
           1, c.scheduled_at, c.scheduled_at,
           CASE WHEN c.id % 10 IN (1, 2) THEN NULL ELSE c.scheduled_at + INTERVAL '5 minutes' END
    FROM consultations c
    """,
    """
    INSERT INTO invoices (payment_id, user_id, reference, amount, status, issued_at, paid_at,
                          branch_code, serial, serial_number, serial_issued_at)
    SELECT p.id, p.user_id,
           'INV-' || to_char(p.created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS') || '-' || p.id,
           p.amount,
           CASE p.status WHEN 'completed' THEN 'paid' WHEN 'expired' THEN 'void'
                         WHEN 'refunded' THEN 'refunded' ELSE 'pending' END,
           p.created_at, p.completed_at,
           CASE WHEN p.completed_at IS NOT NULL THEN '000' END,
           CASE WHEN p.completed_at IS NOT NULL THEN p.id END,
           CASE WHEN p.completed_at IS NOT NULL THEN lpad(p.id::text, 6, '0') END,
           p.completed_at
    FROM payments p
    """,
    """
    INSERT INTO tax_records (payment_id, user_id, amount, taxable_base, prices_include_vat,
                             tax_type, rate, status, created_at)
    SELECT p.id, p.user_id, round(p.amount * 0.12 / 1.12, 2),
           p.amount - round(p.amount * 0.12 / 1.12, 2), true,
           'VAT', 0.12, 'calculated', p.created_at
    FROM payments p
    """,
    "ANALYZE",
]


@pytest.fixture(scope="module")
def big_app(postgres, redis_server):
    """An app on a database holding 100,000 invoices (built once for the module)."""
    name = f"t_big_{uuid.uuid4().hex[:10]}"
    url = postgres.create(name)
    app = create_app(base_config(url, redis_server.url))
    started = time.perf_counter()
    with app.app_context():
        with db.engine.begin() as conn:
            if conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
                # Skips the foreign-key triggers (the rows are consistent by construction):
                # 16 s becomes 5 s. Needs a superuser, which the throwaway server has.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in BULK_SQL[:-1]:
                conn.execute(text(statement))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(BULK_SQL[-1]))
    app.config["BULK_SECONDS"] = time.perf_counter() - started
    yield app
    with app.app_context():
        db.engine.dispose()
    postgres.drop(name)


def explain(app, invoice_filter: InvoiceFilter, cursor: Cursor | None = None, *, analyze=False):
    """PostgreSQL's plan for exactly the statement the list page runs (run too, with
    ``analyze``, so the plan tells how many rows each step read)."""
    with app.app_context():
        compiled = list_statement(invoice_filter, cursor).compile(dialect=db.engine.dialect)
        with db.engine.connect() as conn:
            command = "EXPLAIN (ANALYZE, TIMING OFF) " if analyze else "EXPLAIN "
            rows = conn.exec_driver_sql(command + str(compiled), compiled.params).all()
    return "\n".join(row[0] for row in rows)


def invoice_rows_read(plan: str) -> int:
    """Rows the plan's scans of ``invoices`` read: those they returned and those their filter
    dropped (an OFFSET's skipped rows are returned rows, counted too)."""
    total, in_invoices = 0, False
    for line in plan.splitlines():
        if "->" in line or line.lstrip().startswith(("Limit", "Sort", "Result")):
            in_invoices = bool(re.search(r" on invoices\b|Bitmap Index Scan on ix_invoices_", line))
            found = re.search(r"actual rows=(\d+) loops=(\d+)", line)
            if in_invoices and found:
                total += int(found.group(1)) * int(found.group(2))
        elif in_invoices and "Rows Removed by Filter" in line:
            total += int(line.rsplit(":", 1)[1])
    return total


def deep_cursor(app, *, older: bool = True) -> Cursor:
    """The position of the 1,000th oldest invoice: a page there is ~2,000 pages deep."""
    with app.app_context():
        row = db.session.execute(
            text("SELECT issued_at, id FROM invoices ORDER BY issued_at, id OFFSET 999 LIMIT 1")
        ).one()
    return Cursor(row.issued_at, row.id, older)


def some_invoice_number(app) -> str:
    with app.app_context():
        return db.session.scalar(
            text("SELECT reference FROM invoices ORDER BY id OFFSET 54321 LIMIT 1")
        )


@pytest.mark.parametrize(
    ("invoice_filter", "index"),
    [
        (InvoiceFilter(), "ix_invoices_issued_at_id"),
        (InvoiceFilter(status="refunded"), "ix_invoices_status_issued_at_id"),
        # Rows are in issue order on disk, so PostgreSQL may prefer walking the date index here.
        (
            InvoiceFilter(
                status="refunded", issued_from=date(2026, 3, 1), issued_to=date(2026, 3, 31)
            ),
            "ix_invoices_",
        ),
        (
            InvoiceFilter(issued_from=date(2026, 5, 1), issued_to=date(2026, 5, 2)),
            "ix_invoices_issued_at_id",
        ),
        (InvoiceFilter(patient="patient77@bulk.test"), "ix_invoices_user_issued_at_id"),
        (InvoiceFilter(method="bank_transfer"), "ix_invoices_issued_at_id"),
    ],
    ids=["newest", "status", "status+dates", "dates", "patient", "method"],
)
def test_the_list_query_for_a_filter_uses_an_index_at_100k_invoices(big_app, invoice_filter, index):
    # when
    plan = explain(big_app, invoice_filter)
    # then
    assert index in plan, plan
    assert "Seq Scan on invoices" not in plan, plan


def test_the_totals_for_a_date_range_use_an_index_at_100k_invoices(big_app):
    invoice_filter = InvoiceFilter(issued_from=date(2026, 5, 1), issued_to=date(2026, 5, 31))
    with big_app.app_context():
        compiled = totals_statement(invoice_filter).compile(
            dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
    plan = "\n".join(row[0] for row in rows)
    assert "ix_invoices_issued_at_id" in plan, plan
    assert "Seq Scan on invoices" not in plan, plan


@pytest.mark.parametrize(
    ("invoice_filter", "index"),
    [
        (InvoiceFilter(), "ix_invoices_issued_at_id"),
        (InvoiceFilter(status="paid"), "ix_invoices_"),
        (InvoiceFilter(status="refunded"), "ix_invoices_status_issued_at_id"),
        (InvoiceFilter(method="gcash"), "ix_invoices_issued_at_id"),
        (InvoiceFilter(patient="patient77@bulk.test"), "ix_invoices_user_issued_at_id"),
        (
            InvoiceFilter(issued_from=date(2026, 1, 1), issued_to=date(2026, 1, 31)),
            "ix_invoices_issued_at_id",
        ),
    ],
    ids=["newest", "paid", "refunded", "method", "patient", "dates"],
)
@pytest.mark.parametrize("older", [True, False], ids=["older", "newer"])
def test_a_page_two_thousand_pages_deep_reads_a_page_of_rows_not_every_row_before_it(
    big_app, invoice_filter, index, older
):
    # given the cursor of a Newer or Older link near the far end of 100,000 invoices
    cursor = deep_cursor(big_app, older=older)
    # when the page's statement runs
    plan = explain(big_app, invoice_filter, cursor, analyze=True)
    # then it starts at the cursor in an index (a range of it, not an OFFSET) and reads
    # about a page: the ~1,000 rows on the short side would be ~99,000 on the long one
    assert index in plan, plan
    assert "ROW(issued_at, id) " in plan, plan
    assert "Seq Scan on invoices" not in plan, plan
    assert invoice_rows_read(plan) <= 400, plan


@pytest.mark.parametrize(
    "typed",
    [
        lambda number: number,  # the whole number
        lambda number: number[:16].lower(),  # its start, in any case
        lambda number: number[4:18],  # without its "INV-"
    ],
    ids=["whole", "prefix", "without-inv"],
)
def test_an_invoice_number_s_start_is_found_through_the_lower_case_index(big_app, typed):
    plan = explain(big_app, InvoiceFilter(number=typed(some_invoice_number(big_app)).upper()))
    assert "ix_invoices_reference_lower" in plan, plan
    assert "Seq Scan on invoices" not in plan, plan


def test_the_trailing_payment_number_is_found_through_the_payment_id_index(big_app):
    payment_id = some_invoice_number(big_app).rsplit("-", 1)[1]
    plan = explain(big_app, InvoiceFilter(number=payment_id))
    assert "invoices_payment_id_key" in plan, plan
    assert "Seq Scan on invoices" not in plan, plan


def test_the_deleted_filter_reads_the_small_index_of_deleted_payments(big_app):
    plan = explain(big_app, InvoiceFilter(status="deleted"))
    assert "ix_payments_deleted" in plan, plan
    # No table of the 100k is read whole (credit_memos is empty here: any plan reads it at no cost).
    assert not re.search(r"Seq Scan on (invoices|payments|users|consultations)\b", plan), plan


def test_the_100k_invoices_were_made_quickly(big_app):
    # The module's data set must stay cheap enough to build on every run.
    assert big_app.config["BULK_SECONDS"] < 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_exporting_100k_invoices_streams_without_holding_them_in_memory(big_app):
    # given a staff member
    staff = Factory(big_app).staff()
    client = big_app.test_client()
    client.post("/login", data={"email": staff.email, "password": PASSWORD})
    # when the whole list is exported and read chunk by chunk, watching the process's memory
    client.get("/staff/invoices?patient=warm-up")
    baseline = peak = rss_bytes()
    started = time.perf_counter()
    # (the test client runs the app until its first chunk here, so measure from before)
    response = client.get("/staff/invoices.csv", buffered=False)
    lines = chunks = 0
    for chunk in response.response:
        chunks += 1
        lines += chunk.count(b"\r\n")
        peak = max(peak, rss_bytes())
    response.close()
    seconds = time.perf_counter() - started
    # then every invoice is there, sent in many chunks, and memory barely moved
    assert response.status_code == 200
    assert lines == INVOICES + 1
    assert chunks > 100
    growth = (peak - baseline) / 1e6
    print(f"exported {INVOICES} invoices in {seconds:.1f}s, {chunks} chunks, RSS +{growth:.1f} MB")
    assert growth < 30, f"memory grew by {growth:.1f} MB while exporting"
