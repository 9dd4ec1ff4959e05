"""Closing a clinic day: after it, that day's books never change.

The rule (issue: "a closed day cannot change"; docs/invoices.md, "The day's books"):

- only a day that has ended in clinic time can be closed, so everything recorded from then
  on (a capture, a refund's credit memo) is dated on a later day;
- the closing locks the branch's serial counters (``serials.hold_counters``) before it
  reads the figures: a sale or refund taking its number at that moment commits first and
  is counted, or waits and is dated after the closing;
- the figures are stored with the closing (``DayClosing.figures``) and the books of a
  closed day are read from there, so nothing later (a pending payment captured, a refund's
  state settled by the provider) changes them. A later refund of that day's sale is a
  credit memo on the day it is made;
- a day with payments still pending is closed only when the manager confirms the warning
  (``PendingPayments``); those payments, if captured, count on the day of their capture;
- closing a closed day changes nothing (one row per branch and day, ``ON CONFLICT DO
  NOTHING``), and the audit row (``day.closed``) is written in the closing's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import audit
from app.books.figures import DayFigures, clinic_today, live_figures
from app.extensions import db
from app.models import AuditAction, DayClosing, User, utcnow
from app.payments.serials import hold_counters


class DayNotOver(Exception):
    """409: the day has not ended in clinic time (today or later): it cannot be closed."""


class PendingPayments(Exception):
    """409: payments of the day are still pending and the manager did not confirm."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} payments of the day are still pending")
        self.count = count


@dataclass(frozen=True)
class Books:
    """A day's figures and, when the day is closed, its closing (the figures are then the
    closing's own)."""

    figures: DayFigures
    closing: DayClosing | None

    @property
    def closed(self) -> bool:
        return self.closing is not None


def branch_code() -> str:
    return current_app.config["CLINIC_BRANCH_CODE"]


def closing_of(session: Session, day: date, branch: str) -> DayClosing | None:
    return session.execute(
        select(DayClosing).where(DayClosing.branch_code == branch, DayClosing.day == day)
    ).scalar_one_or_none()


def books_of(day: date, session: Session | None = None) -> Books:
    """``day``'s books at this clinic's branch: as closed, or as the rows stand now."""
    session = session or db.session
    branch = branch_code()
    closing = closing_of(session, day, branch)
    if closing is not None:
        return Books(DayFigures.from_json(closing.figures), closing)
    return Books(live_figures(session, day, branch), None)


def close_day(day: date, manager: User, *, pending_confirmed: bool) -> Books:
    """Close ``day`` at this clinic's branch, in one transaction (committed here).

    :raise DayNotOver: ``day`` is today or later in clinic time.
    :raise PendingPayments: payments of the day are pending and ``pending_confirmed`` is
        false; nothing is written.
    Closing a closed day returns its books and writes nothing.
    """
    if day >= clinic_today():
        raise DayNotOver(day.isoformat())
    session = db.session
    branch = branch_code()
    try:
        hold_counters(session, branch)
        closed = closing_of(session, day, branch)
        if closed is not None:
            session.rollback()
            return books_of(day)
        figures = live_figures(session, day, branch)
        if figures.pending_count and not pending_confirmed:
            raise PendingPayments(figures.pending_count)
        now = utcnow()
        inserted = session.execute(
            _insert(session)
            .values(
                branch_code=branch,
                day=day,
                closed_by=f"user:{manager.id}",
                closed_by_name=manager.name,
                closed_at=now,
                pending_at_close=figures.pending_count,
                figures=figures.to_json(),
            )
            .on_conflict_do_nothing(index_elements=["branch_code", "day"])
            .returning(DayClosing.id)
        ).scalar_one_or_none()
        if inserted is not None:
            audit.record(
                AuditAction.DAY_CLOSED,
                actor=manager,
                day=day.isoformat(),
                branch_code=branch,
                invoices=figures.invoice_count,
                net=str(figures.net),
                pending=figures.pending_count,
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return books_of(day)


def _insert(session: Session):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(DayClosing)
