"""Seed data straight in SQL (generate_series): seconds for what the ORM would take minutes.

Load consultations and their patients share ids: consultation ``i`` belongs to
user ``i``, whose API token is ``cck_bench_<i>`` and whose email is
``bench<i>@example.test``. One patient per consultation keeps every request on
its own user row, as in real traffic (one shared user would make every insert
take a share lock on the same row and measure PostgreSQL's multixacts instead).
"""

from __future__ import annotations

import psycopg
from werkzeug.security import generate_password_hash

from app.config import DEMO_CLINIC

TOKEN_PREFIX = "cck_bench_"
PASSWORD = "bench-password-1"
FEE = "5000.00"
# The branch whose sales invoices the history's captured payments carry: the bench's servers
# run with the demo clinic's TIN, whose last group is its branch code (app/config.py).
BRANCH = DEMO_CLINIC["CLINIC_TIN"].rsplit("-", 1)[1]
# Cheap on purpose: logging in is not what is measured.
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def token_for(user_id: int) -> str:
    return f"{TOKEN_PREFIX}{user_id}"


def email_for(user_id: int) -> str:
    return f"bench{user_id}@example.test"


def seed_patients(conn: psycopg.Connection, count: int) -> None:
    """Users 1..count with tokens, and consultation i for user i."""
    _insert_patients(conn, 1, count)
    _reset_sequences(conn)
    conn.execute("VACUUM ANALYZE users")
    conn.execute("VACUUM ANALYZE consultations")


def add_patients(conn: psycopg.Connection, count: int) -> int:
    """``count`` more patients, each with its consultation, at the next free ids (after every
    user and consultation already there, history included); returns the first new id.

    Vacuumed and analyzed at once, so autovacuum does not do it during the next measured run.
    """
    first = conn.execute(
        "SELECT greatest((SELECT coalesce(max(id), 0) FROM users),"
        " (SELECT coalesce(max(id), 0) FROM consultations)) + 1"
    ).fetchone()[0]
    _insert_patients(conn, first, count)
    for table in ("users", "consultations"):
        _reset_sequence(conn, table)
    conn.execute("VACUUM ANALYZE users")
    conn.execute("VACUUM ANALYZE consultations")
    return first


def _insert_patients(conn: psycopg.Connection, first: int, count: int) -> None:
    params = {
        "first": first,
        "last": first + count - 1,
        "hash": _PASSWORD_HASH,
        "prefix": TOKEN_PREFIX,
        "fee": FEE,
    }
    conn.execute(
        """
        INSERT INTO users (id, email, name, password_hash, role, api_token_hash, session_token,
                           created_at)
        SELECT i, 'bench' || i || '@example.test', 'Bench Patient ' || i, %(hash)s, 'patient',
               encode(sha256(convert_to(%(prefix)s || i, 'UTF8')), 'hex'),
               md5(random()::text || i), now()
        FROM generate_series(%(first)s::int, %(last)s::int) AS i
        """,
        params,
    )
    conn.execute(
        """
        INSERT INTO consultations (id, patient_id, doctor_name, scheduled_at, fee, currency,
                                   created_at)
        SELECT i, i, 'Dr. Ana Cruz', now() + interval '2 days', %(fee)s, 'PHP', now()
        FROM generate_series(%(first)s::int, %(last)s::int) AS i
        """,
        params,
    )


def seed_history(conn: psycopg.Connection, count: int, patients: int) -> None:
    """``count`` past payments on consultations of their own (after the load range), each
    with its tax record, invoice, idempotency key and 'created' event, as the service
    writes them. Mostly completed; some expired, failed or refunded; the newest pending.
    Captured ones (completed, refunded) carry the branch's next sales invoice serials."""
    if count <= 0:
        return
    base = conn.execute("SELECT coalesce(max(id), 0) FROM consultations").fetchone()[0]
    pay_base = conn.execute("SELECT coalesce(max(id), 0) FROM payments").fetchone()[0]
    serial = conn.execute(
        "SELECT coalesce(max(serial), 0) FROM invoices WHERE branch_code = %s", (BRANCH,)
    ).fetchone()[0]
    params = {
        "n": count,
        "base": base,
        "pay": pay_base,
        "patients": patients,
        "fee": FEE,
        "branch": BRANCH,
        "serial": serial,
    }
    statements = [
        """
        INSERT INTO consultations (id, patient_id, doctor_name, scheduled_at, fee, currency,
                                   created_at)
        SELECT %(base)s + i, 1 + (i - 1) %% %(patients)s, 'Dr. Ben Reyes',
               now() - (i || ' minutes')::interval, %(fee)s, 'PHP', now() - interval '30 days'
        FROM generate_series(1, %(n)s) AS i
        """,
        """
        INSERT INTO payments (id, user_id, consultation_id, amount, currency, payment_method,
                              status, transaction_id, version, idempotency_key_hash,
                              created_at, updated_at, completed_at)
        SELECT %(pay)s + i, 1 + (i - 1) %% %(patients)s, %(base)s + i, %(fee)s, 'PHP',
               (ARRAY['gcash','stripe','bank_transfer','e_wallet'])[1 + i %% 4],
               s.status,
               CASE WHEN s.status IN ('completed', 'refunded') THEN 'bench-tx-' || i END,
               CASE WHEN s.status = 'pending' THEN 1 ELSE 2 END,
               encode(sha256(convert_to('bench-history-' || i, 'UTF8')), 'hex'),
               now() - ((%(n)s - i) || ' seconds')::interval, now(),
               CASE WHEN s.status IN ('completed', 'refunded') THEN now() END
        FROM generate_series(1, %(n)s) AS i,
             LATERAL (SELECT CASE
                 WHEN i > %(n)s - 100 THEN 'pending'
                 WHEN i %% 20 = 0 THEN 'expired'
                 WHEN i %% 50 = 1 THEN 'failed'
                 WHEN i %% 100 = 2 THEN 'refunded'
                 ELSE 'completed' END AS status) AS s
        """,
        """
        INSERT INTO tax_records (payment_id, user_id, amount, taxable_base, prices_include_vat,
                                 tax_type, rate, status, created_at)
        SELECT p.id, p.user_id, p.amount - round(p.amount / 1.12, 2), round(p.amount / 1.12, 2),
               true, 'VAT', 0.12,
               CASE WHEN p.status = 'refunded' THEN 'reversed' ELSE 'calculated' END, p.created_at
        FROM payments p WHERE p.id > %(pay)s
        """,
        """
        INSERT INTO invoices (payment_id, user_id, reference, amount, status, issued_at,
                              paid_at, branch_code, serial, serial_number, serial_issued_at)
        SELECT p.id, p.user_id, 'INV-' || to_char(p.created_at, 'YYYYMMDDHH24MISS') || '-' || p.id,
               p.amount,
               CASE p.status WHEN 'completed' THEN 'paid' WHEN 'refunded' THEN 'refunded'
                             WHEN 'pending' THEN 'pending' ELSE 'void' END,
               p.created_at, p.completed_at,
               CASE WHEN p.captured THEN %(branch)s END,
               CASE WHEN p.captured THEN p.serial END,
               CASE WHEN p.captured THEN lpad(p.serial::text, 6, '0') END,
               CASE WHEN p.captured THEN p.completed_at END
        FROM (SELECT *, status IN ('completed', 'refunded') AS captured,
                     %(serial)s + count(*) FILTER (WHERE status IN ('completed', 'refunded'))
                                  OVER (ORDER BY id) AS serial
              FROM payments WHERE id > %(pay)s) AS p
        """,
        # The branch's invoice counter continues after the history's serials.
        """
        INSERT INTO serial_counters (series, branch_code, last_serial)
        SELECT 'invoice', %(branch)s::varchar, coalesce(max(serial), 0) FROM invoices
        WHERE branch_code = %(branch)s::varchar
        ON CONFLICT (series, branch_code) DO UPDATE SET last_serial = excluded.last_serial
        """,
        """
        INSERT INTO idempotency_keys (user_id, key_hash, fingerprint, state, response_status,
                                      response_body, payment_id, created_at, expires_at)
        SELECT p.user_id, p.idempotency_key_hash, encode(sha256(convert_to(p.id::text, 'UTF8')),
               'hex'), 'completed', 201, '{"message":"Payment created."}', p.id,
               p.created_at, p.created_at + interval '1 day'
        FROM payments p WHERE p.id > %(pay)s
        """,
        """
        INSERT INTO payment_events (payment_id, consultation_id, event_type, actor, data,
                                    created_at)
        SELECT p.id, p.consultation_id, 'created', 'user:' || p.user_id,
               jsonb_build_object('method', p.payment_method, 'amount', p.amount::text),
               p.created_at
        FROM payments p WHERE p.id > %(pay)s
        """,
    ]
    for sql in statements:
        conn.execute(sql, params)
    _reset_sequences(conn)
    for table in (
        "consultations",
        "payments",
        "tax_records",
        "invoices",
        "idempotency_keys",
        "payment_events",
    ):
        conn.execute(f"VACUUM ANALYZE {table}")


def _reset_sequences(conn: psycopg.Connection) -> None:
    for table in (
        "users",
        "consultations",
        "payments",
        "tax_records",
        "invoices",
        "idempotency_keys",
        "payment_events",
    ):
        _reset_sequence(conn, table)


def _reset_sequence(conn: psycopg.Connection, table: str) -> None:
    conn.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"greatest((SELECT max(id) FROM {table}), 1))"
    )
