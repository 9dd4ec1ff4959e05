"""The ``staff_scale`` phase: the staff invoice pages on a database of N invoices.

Its own database, seeded in SQL (generate_series): N invoices (1,000,000 in full mode,
50,000 in quick mode) over the last N minutes, one patient per 50 invoices, 78% paid,
10% pending, 10% void, 2% refunded with a credit memo each, the four methods in turn.
One gunicorn server (production config, second factor required) serves it; a manager
with an enrolled TOTP secret signs in through the login form and its code page, as a
person does.

Measured, one request at a time (the time a staff member waits, not throughput): the
first page, each filter (status, invoice-number prefix, a week's dates, a patient), a deep
page (the "Older" link followed from a cursor near the far end of the list), the day's
books; then the whole CSV, in rows per second, with the workers' resident memory before
and after. EXPLAIN (ANALYZE, BUFFERS) of the list's statements goes into
``bench.extra["staff_scale"]["plans"]`` for bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse
from datetime import date, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import psycopg
import pyotp
from flask import Flask

from app import create_app
from app.books.figures import clinic_today
from app.config import ROOT
from app.extensions import db
from app.invoices.filters import Cursor, InvoiceFilter
from app.invoices.queries import list_statement, totals_statement
from bench.cpu import tree_cpu_seconds
from bench.html_form import parse_forms
from bench.model import PROFILES, Bench, Pool, log, target
from bench.seed import _PASSWORD_HASH, PASSWORD
from bench.stack import Stack

DATABASE = "bench_staff"
SIZES = {"quick": 50_000, "full": 1_000_000}
SAMPLES = {"quick": 15, "full": 25}
INVOICES_PER_PATIENT = 50
MANAGER_EMAIL = "manager@bench.test"
# A fixed TOTP secret: the bench signs in with its current code, as an enrolled manager.
MANAGER_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
BRANCH = "00000"  # DEMO_CLINIC's TIN ends in it (app.config._branch_code)

# The list's targets (issue 33): p95 in ms, the books' p95, the CSV's rows per second.
PAGE_P95_MS = 50
BOOKS_P95_MS = 200
CSV_ROWS_PER_S = 20_000

SEED_SQL = [
    """
    INSERT INTO users (email, name, password_hash, role, session_token, created_at)
    SELECT 'patient' || g || '@scale.test', 'Scale Patient ' || g, 'x', 'patient',
           md5(random()::text || g), now()
    FROM generate_series(1, %(patients)s) g
    """,
    # One invoice a minute, the newest a minute ago: today has its day's books.
    """
    INSERT INTO consultations (patient_id, doctor_name, scheduled_at, fee, currency, created_at)
    SELECT u0.id + g %% %(patients)s, 'Dr. Scale ' || g %% 20,
           now() - (%(n)s - g + 1) * INTERVAL '1 minute', 1000 + (g %% 50) * 100, 'PHP', now()
    FROM (SELECT min(id) AS id FROM users WHERE email LIKE '%%@scale.test') u0,
         generate_series(1, %(n)s) g
    """,
    """
    INSERT INTO payments (user_id, consultation_id, amount, currency, payment_method, status,
                          transaction_id, version, created_at, updated_at, completed_at)
    SELECT c.patient_id, c.id, c.fee, 'PHP',
           (ARRAY['stripe', 'gcash', 'bank_transfer', 'e_wallet'])[1 + c.id %% 4],
           CASE WHEN c.id %% 50 = 0 THEN 'refunded' WHEN c.id %% 10 = 1 THEN 'expired'
                WHEN c.id %% 10 = 2 THEN 'pending' ELSE 'completed' END,
           CASE WHEN c.id %% 10 NOT IN (1, 2) THEN 'txn_' || c.id END,
           1, c.scheduled_at, c.scheduled_at,
           CASE WHEN c.id %% 10 IN (1, 2) THEN NULL ELSE c.scheduled_at + INTERVAL '5 seconds' END
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
           CASE WHEN p.completed_at IS NOT NULL THEN %(branch)s END,
           CASE WHEN p.completed_at IS NOT NULL THEN p.id END,
           CASE WHEN p.completed_at IS NOT NULL THEN 'OR-' || lpad(p.id::text, 8, '0') END,
           p.completed_at
    FROM payments p
    """,
    """
    INSERT INTO tax_records (payment_id, user_id, amount, taxable_base, prices_include_vat,
                             tax_type, rate, status, created_at)
    SELECT p.id, p.user_id, round(p.amount * 0.12 / 1.12, 2),
           p.amount - round(p.amount * 0.12 / 1.12, 2), true, 'VAT', 0.12, 'calculated',
           p.created_at
    FROM payments p
    """,
    # Each refunded payment: its refund request (done) and its credit memo.
    """
    INSERT INTO provider_requests (kind, payment_id, amount, currency, reason, idempotency_key,
                                   state, attempts, next_attempt_at, created_at, updated_at,
                                   completed_at)
    SELECT 'refund', p.id, p.amount, 'PHP', 'bench', 'refund-payment-' || p.id || '-1',
           'succeeded', 1, p.completed_at, p.completed_at, p.completed_at, p.completed_at
    FROM payments p WHERE p.status = 'refunded'
    """,
    """
    INSERT INTO credit_memos (invoice_id, payment_id, provider_request_id, branch_code, serial,
                              serial_number, amount, reason, actor, issued_at)
    SELECT i.id, i.payment_id, r.id, %(branch)s, row_number() OVER (ORDER BY r.id),
           'CM-' || r.id, r.amount, 'bench', 'bench', r.completed_at
    FROM provider_requests r JOIN invoices i ON i.payment_id = r.payment_id
    WHERE r.idempotency_key LIKE 'refund-payment-%%-1' AND r.reason = 'bench'
    """,
    """
    INSERT INTO users (email, name, password_hash, role, session_token, created_at,
                       totp_secret, totp_enabled_at)
    VALUES (%(email)s, 'Bench Manager', %(hash)s, 'manager', md5(random()::text), now(),
            %(totp)s, now())
    """,
]


def seed(conn: psycopg.Connection, invoices: int) -> float:
    """``invoices`` invoices and what they belong to; the seconds it took (with ANALYZE)."""
    started = time.perf_counter()
    params = {
        "n": invoices,
        "patients": max(1, invoices // INVOICES_PER_PATIENT),
        "branch": BRANCH,
        "email": MANAGER_EMAIL,
        "hash": _PASSWORD_HASH,
        "totp": MANAGER_TOTP,
    }
    with conn.transaction():
        # No foreign-key triggers: the rows are consistent by construction (a superuser's
        # own throwaway server).
        conn.execute("SET LOCAL session_replication_role = replica")
        for statement in SEED_SQL:
            conn.execute(statement, params)
    conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


class StaffBrowser:
    """One staff member's browser: a kept-alive connection and its cookies (sent over plain
    HTTP although production marks them Secure: the bench talks to loopback)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, path: str, form: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """Send the request; the response is returned unread (the caller reads it)."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request("POST" if form is not None else "GET", path, body, headers)
        response = self.conn.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str) -> tuple[int, bytes]:
        response = self.request(path)
        return response.status, response.read()

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        response = self.request(path, form)
        return response.status, response.read().decode()

    def sign_in(self, email: str, password: str, totp_secret: str) -> None:
        """The login form, then the second factor's code page with the current code.

        :raise RuntimeError: either step was refused.
        """
        status, _ = self.post("/login", {"email": email, "password": password})
        if status not in (302, 303):
            raise RuntimeError(f"the bench manager's login answered {status}")
        status, page = self.get("/login/code")
        form = next((f for f in parse_forms(page.decode()) if "code" in f.fields), None)
        if form is None:
            raise RuntimeError(f"/login/code ({status}) has no code form")
        fields = {**form.fields, "code": pyotp.TOTP(totp_secret).now()}
        status, _ = self.post(form.action or "/login/code", fields)
        if status not in (302, 303):
            raise RuntimeError(f"the bench manager's second factor answered {status}")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def time_page(
    browser: StaffBrowser, path: str, samples: int, cpu_roots: list[int]
) -> dict[str, Any]:
    """p50/p95 in ms of ``samples`` GETs of ``path`` one after the other (after one warm-up),
    and the CPU ms per request of ``cpu_roots`` (gunicorn, PostgreSQL, Redis): the cost
    other load on a shared machine barely disturbs, where it stretches the wait.

    :raise RuntimeError: the page did not answer 200.
    """
    status, body = browser.get(path)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    times = []
    cpu_before = tree_cpu_seconds(cpu_roots)
    for _ in range(samples):
        started = time.perf_counter()
        status, body = browser.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
    cpu_ms = (tree_cpu_seconds(cpu_roots) - cpu_before) * 1000 / samples
    return {
        "path": path,
        "cpu_ms": round(cpu_ms, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "samples": samples,
        "bytes": len(body),
    }


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory (MB) of each gunicorn worker (the master's children), from /proc."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sizes


def time_csv(browser: StaffBrowser, master_pid: int, cpu_roots: list[int]) -> dict[str, Any]:
    """The whole list as CSV: rows per second as received and per CPU second of the server
    (gunicorn, PostgreSQL), the workers' RSS before, at most during, and after."""
    before = worker_rss_mb(master_pid)
    cpu_before = tree_cpu_seconds(cpu_roots)
    started = time.perf_counter()
    response = browser.request("/staff/invoices.csv")
    lines = size = chunks = 0
    peak = before
    while chunk := response.read1(1 << 16):
        lines += chunk.count(b"\n")  # no field holds a line break; \r\n may span chunks
        size += len(chunk)
        chunks += 1
        if chunks % 200 == 0:  # every ~13 MB
            peak = [max(a, b) for a, b in zip(peak, worker_rss_mb(master_pid), strict=False)]
    seconds = time.perf_counter() - started
    cpu_seconds = tree_cpu_seconds(cpu_roots) - cpu_before
    after = worker_rss_mb(master_pid)
    rows = lines - 1  # the header
    return {
        "status": response.status,
        "rows": rows,
        "mb": round(size / 1e6, 1),
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "rows_per_cpu_s": round(rows / cpu_seconds) if cpu_seconds else None,
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "rss_after_mb": after,
    }


def cases(conn: psycopg.Connection, today: date) -> dict[str, tuple[InvoiceFilter, Cursor | None]]:
    """The filters measured, on the seeded data: the same for the pages and the plans."""
    yesterday = today - timedelta(days=1)
    # The 1,000th oldest invoice: its Older page is the far end of the list.
    issued_at, invoice_id = conn.execute(
        "SELECT issued_at, id FROM invoices ORDER BY issued_at, id OFFSET 999 LIMIT 1"
    ).fetchone()
    return {
        "first page": (InvoiceFilter(), None),
        "status=paid": (InvoiceFilter(status="paid"), None),
        "number prefix (a day)": (InvoiceFilter(number=f"INV-{yesterday:%Y%m%d}"), None),
        "a week's dates": (
            InvoiceFilter(issued_from=today - timedelta(days=7), issued_to=yesterday),
            None,
        ),
        "a patient": (InvoiceFilter(patient="patient77@scale.test"), None),
        "deep page (Older)": (InvoiceFilter(), Cursor(issued_at, invoice_id, older=True)),
        "deep page (Newer)": (InvoiceFilter(), Cursor(issued_at, invoice_id, older=False)),
        "deep page, status=paid": (
            InvoiceFilter(status="paid"),
            Cursor(issued_at, invoice_id, older=True),
        ),
    }


def list_path(invoice_filter: InvoiceFilter, cursor: Cursor | None) -> str:
    args = invoice_filter.query_args()
    if cursor is not None:
        args["page"] = cursor.token()
    return "/staff/invoices" + ("?" + urllib.parse.urlencode(args) if args else "")


def plans(app: Flask, measured: dict[str, tuple[InvoiceFilter, Cursor | None]]) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of each list statement, and of the first page's totals."""
    found = {}
    with app.app_context(), db.engine.connect() as conn:
        statements = {name: list_statement(f, c) for name, (f, c) in measured.items()}
        statements["totals, no filter"] = totals_statement(InvoiceFilter())
        statements["totals, status=paid"] = totals_statement(InvoiceFilter(status="paid"))
        for name, statement in statements.items():
            compiled = statement.compile(
                dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            rows = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params
            ).all()
            found[name] = "\n".join(row[0] for row in rows)
    return found


def phase(bench: Bench, stack: Stack) -> None:
    """Seed, serve, sign in, measure; results in ``bench.extra["staff_scale"]``."""
    mode = bench.profile.mode
    invoices, samples = SIZES.get(mode, SIZES["quick"]), SAMPLES.get(mode, SAMPLES["quick"])
    stack.create_database(DATABASE)
    stack.migrate(DATABASE)
    log(f"staff_scale: seeding {invoices:,} invoices")
    # The app's own statements, for the plans, on the bench's database.
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": stack.pg.url_for(DATABASE),
            "REDIS_URL": None,
        }
    )
    with app.app_context():
        today = clinic_today()
    with stack.connect(DATABASE) as conn:
        seed_seconds = seed(conn, invoices)
        measured = cases(conn, today)
    log(f"staff_scale: seeded in {seed_seconds:.0f} s")
    server = stack.serve(DATABASE, "hybrid")
    stack.start_servers([server])
    try:
        stack.wait_ready([server])
        browser = StaffBrowser(server.port)
        browser.sign_in(MANAGER_EMAIL, PASSWORD, MANAGER_TOTP)
        roots = stack.cpu_roots(server)
        paths = {name: list_path(f, c) for name, (f, c) in measured.items()}
        paths["day's books"] = "/staff/books"
        pages = {name: time_page(browser, path, samples, roots) for name, path in paths.items()}
        for name, page in pages.items():
            log(
                f"staff_scale: {name:<24} p50 {page['p50_ms']:7.1f} ms  p95 {page['p95_ms']:7.1f} ms"
                f"  cpu {page['cpu_ms']:6.1f} ms/req"
            )
        csv = time_csv(browser, server.proc.pid, roots)
        log(
            f"staff_scale: CSV {csv['rows']:,} rows in {csv['seconds']} s "
            f"({csv['rows_per_s']:,} rows/s, {csv['rows_per_cpu_s'] or 0:,} per CPU s), worker RSS {csv['rss_before_mb']} -> "
            f"{csv['rss_after_mb']} MB"
        )
    finally:
        server.terminate()
        server.wait_stopped()
        stack.servers.remove(server)
    bench.extra["staff_scale"] = {
        "invoices": invoices,
        "seed_seconds": round(seed_seconds, 1),
        "pages": pages,
        "csv": csv,
        "plans": plans(app, measured),
    }
    with app.app_context():
        db.engine.dispose()


def targets(extra: dict) -> list[dict]:
    """The staff pages' targets (issue 33), as bench/report.py ``targets()`` rows."""
    found = extra.get("staff_scale")
    if not found:
        return []
    size = found["invoices"]
    note = "" if size >= 1_000_000 else f"quick mode: {size:,} invoices, not 1,000,000"

    def row(
        name: str, value, op: str, bound: float, why: str = "", cpu=None, basis: str = "ms"
    ) -> dict:
        # also: the server's CPU ms per request, the wait on an idle machine.
        note_text = "; ".join(n for n in (note, why) if n)
        return target(name, value, op, bound, basis=basis, also=cpu, note=note_text)

    rows = []
    for name, page in found["pages"].items():
        bound = BOOKS_P95_MS if name == "day's books" else PAGE_P95_MS
        why = ""
        if page["path"] in ("/staff/invoices", "/staff/invoices?status=paid"):
            why = "the first page sums the whole filter's totals (see the totals plans)"
        rows.append(row(f"staff {name} p95 ms", page["p95_ms"], "<=", bound, why, page["cpu_ms"]))
    csv = found["csv"]
    rows.append(
        row(
            "staff CSV rows/s",
            csv["rows_per_s"],
            ">=",
            CSV_ROWS_PER_S,
            "also: rows per CPU second of the server",
            csv.get("rows_per_cpu_s"),
            basis="rows/s",
        )
    )
    growth = round(
        max(a - b for a, b in zip(csv["rss_after_mb"], csv["rss_before_mb"], strict=False)), 1
    )
    rows.append(row("staff CSV worker RSS growth MB", growth, "<=", 30, "flat memory", basis="MB"))
    return rows


def readme_section(extra: dict) -> str:
    """The figures and the plans as a Markdown section for bench/README.md."""
    found = extra["staff_scale"]
    lines = [
        f"Measured on {found['invoices']:,} invoices (seeded in {found['seed_seconds']} s), "
        "one request at a time, gunicorn "
        "4 workers x 2 threads, production config:",
        "",
        "| Page | p50 ms | p95 ms | server CPU ms/req |",
        "|---|--:|--:|--:|",
    ]
    for name, page in found["pages"].items():
        lines.append(
            f"| {name} (`{page['path']}`) | {page['p50_ms']} | {page['p95_ms']} | {page['cpu_ms']} |"
        )
    csv = found["csv"]
    lines += [
        "",
        f"CSV: {csv['rows']:,} rows ({csv['mb']} MB) in {csv['seconds']} s, "
        f"{csv['rows_per_s']:,} rows/s ({csv.get('rows_per_cpu_s') or 0:,} per CPU second of "
        f"gunicorn and PostgreSQL together); worker RSS {csv['rss_before_mb']} MB before, "
        f"{csv['rss_peak_mb']} MB at most during, {csv['rss_after_mb']} MB after.",
        "",
    ]
    for name, plan in found["plans"].items():
        lines += [f"#### {name}", "", "```", plan, "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The phase alone on a stack of its own: ``python -m bench.staff_scale --mode quick``;
    prints the targets and writes the README section's text to ``--out``."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    stack = Stack.start()
    try:
        bench = Bench(PROFILES[args.mode], stack, Pool(0))
        phase(bench, stack)
    finally:
        stack.close()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"staff-scale-{args.mode}"
    (args.out / f"{stem}.json").write_text(json.dumps(bench.extra, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(readme_section(bench.extra) + "\n")
    for row in targets(bench.extra):
        met = {True: "met", False: "MISSED", None: "-"}[row["met"]]
        log(f"{row['target']:<40} {row['value']!s:>10} {row['bound']:>9}  {met}  {row['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
