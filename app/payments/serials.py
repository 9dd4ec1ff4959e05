"""Serial numbers of sales invoices and credit memos: one unbroken run per branch and series.

A computerized invoicing system must number its invoices serially, and may neither skip nor
reuse a number (RR 7-2024 s. 6(B); RMO 29-2002 on computer-generated invoices; see
docs/invoices.md). So the number is taken inside the transaction that records the sale
(or the refund), from the branch's counter row (``serial_counters``), locked with
``SELECT ... FOR UPDATE`` and bumped before commit:

- a transaction that rolls back (a deadlock, a crashed worker, a refused capture) gives its
  number back with everything else it wrote, so nothing is skipped;
- a second transaction waits on the lock until the first commits, then reads the bumped
  value, so nothing is taken twice (the unique (branch_code, serial) index is the last line).

A PostgreSQL ``SEQUENCE`` would not do: ``nextval`` is never rolled back, so every
rolled-back capture would leave a gap. The price is that captures of one branch commit one
at a time after this point; the lock is taken last (after the consultation and payment
locks every transition holds), so it is held only for the rest of one short transaction
and two transactions never wait for each other in opposite orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Invoice, SerialCounter, SerialSeries, utcnow
from app.payments import hooks

# Digits printed at least (zero-padded); a larger serial prints all its digits.
MIN_DIGITS = 6


def next_serial(session: Session, series: SerialSeries, branch_code: str) -> int:
    """Take the next serial of ``series`` at ``branch_code`` (1, 2, 3, ...) in the caller's
    transaction; it is the caller's only if that transaction commits. Never commits."""
    _ensure_counter(session, series, branch_code)
    last = lock_counter(session, series, branch_code)
    session.execute(
        update(SerialCounter)
        .where(SerialCounter.series == series.value, SerialCounter.branch_code == branch_code)
        .values(last_serial=last + 1)
    )
    hooks.reached(hooks.SERIAL_TAKEN, series=series, serial=last + 1)
    return last + 1


def lock_counter(session: Session, series: SerialSeries, branch_code: str) -> int:
    """Lock the counter row until the transaction ends and return its last serial.

    The lock is the guarantee: without it two captures read the same value
    (tests/integration/test_serials.py shows the duplicate it then makes).
    """
    return session.execute(
        select(SerialCounter.last_serial)
        .where(SerialCounter.series == series.value, SerialCounter.branch_code == branch_code)
        .with_for_update()
    ).scalar_one()


def _ensure_counter(session: Session, series: SerialSeries, branch_code: str) -> None:
    """The branch's counter row, created at 0 the first time (a concurrent first issue
    inserts nothing: ON CONFLICT DO NOTHING on both databases)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(SerialCounter)
        .values(series=series.value, branch_code=branch_code, last_serial=0)
        .on_conflict_do_nothing()
    )


def printed(prefix: str, serial: int) -> str:
    """A serial as printed: ``prefix`` and at least ``MIN_DIGITS`` digits ("CM-000042")."""
    return f"{prefix}{serial:0{MIN_DIGITS}d}"


@dataclass(frozen=True)
class Serial:
    branch_code: str
    serial: int
    number: str  # as printed, fixed when issued: a later prefix setting never changes it


# The setting that holds each series' printed prefix.
_PREFIX_SETTING = {
    SerialSeries.INVOICE: "INVOICE_SERIAL_PREFIX",
    SerialSeries.CREDIT_MEMO: "CREDIT_MEMO_SERIAL_PREFIX",
}


def issue(session: Session, series: SerialSeries) -> Serial:
    """The next serial of ``series`` at this clinic's branch (CLINIC_BRANCH_CODE), taken in
    the caller's transaction (``next_serial``)."""
    config = current_app.config
    branch = config["CLINIC_BRANCH_CODE"]
    serial = next_serial(session, series, branch)
    return Serial(branch, serial, printed(config[_PREFIX_SETTING[series]], serial))


def issue_invoice_serial(session: Session, invoice: Invoice, when: datetime) -> None:
    """Give the captured payment's ``invoice`` its sales invoice serial (once: an invoice
    that has one keeps it, whatever happens to the payment later).

    ``when``: the capture's time. The serial's own time is never earlier than the moment the
    counter lock was granted, so a sale waiting on the lock while a manager closes the
    day's books (``hold_counters``) is dated after the closing, on a day still open."""
    if invoice.serial is not None:
        return
    issued = issue(session, SerialSeries.INVOICE)
    invoice.branch_code, invoice.serial = issued.branch_code, issued.serial
    invoice.serial_number, invoice.serial_issued_at = issued.number, max(when, utcnow())


def hold_counters(session: Session, branch_code: str) -> None:
    """Lock every series' counter of ``branch_code`` until the transaction ends: a sale or
    refund taking its number now commits first (and is counted), any later one waits and
    is stamped after. The day's books close under this lock (``app.books.closing``)."""
    for series in SerialSeries:
        _ensure_counter(session, series, branch_code)
        lock_counter(session, series, branch_code)
