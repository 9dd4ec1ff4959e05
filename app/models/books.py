"""The day's books: a clinic day a manager closed, with the figures it closed on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.columns import UTCDateTime, utcnow


class DayClosing(db.Model):
    """One closed clinic day (``CLINIC_TIMEZONE``) of one branch: who closed it, when, and
    its figures as they stood (``app.books.figures.DayFigures.to_json``). Once the row
    exists the books of that day are read from ``figures``, so nothing recorded later can
    change them; never updated or deleted."""

    __tablename__ = "day_closings"
    __table_args__ = (UniqueConstraint("branch_code", "day", name="uq_day_closings_branch_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_code: Mapped[str] = mapped_column(String(5))
    day: Mapped[date] = mapped_column(Date)
    # The actor label ("user:7") and the user's name as it was when they closed the day.
    closed_by: Mapped[str] = mapped_column(String(64))
    closed_by_name: Mapped[str] = mapped_column(String(120))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Payments of the day still pending when it was closed (the manager was warned).
    pending_at_close: Mapped[int] = mapped_column(Integer, default=0)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
