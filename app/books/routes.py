"""Staff pages of the day's books: read and print (cashiers), CSV, close a day (managers).
Thin: parse, call one query or service, render."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user

from app.auth.roles import requires_role
from app.books import bp
from app.books.closing import DayNotOver, PendingPayments, books_of, close_day
from app.books.export import csv_text
from app.books.figures import clinic_today
from app.books.forms import CloseDayForm
from app.i18n import N_
from app.invoices.routes import private, staff_only
from app.models import Role

# The staff invoice pages' rules: anonymous visitors to the login page, patients 403, no
# cache keeps the page.
bp.before_request(staff_only)
bp.after_request(private)


def _day() -> date | None:
    """``day`` (YYYY-MM-DD, a clinic day); today by default; None when malformed."""
    raw = request.args.get("day")
    if not raw:
        return clinic_today()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2999 else None


def _page(day: date, form: CloseDayForm | None = None, error: str | None = None, status=200):
    today = clinic_today()
    form = form or CloseDayForm(data={"day": day})
    return render_template(
        "books/day.html",
        books=books_of(day),
        form=form,
        error=error,
        can_close=day < today,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1) if day < today else None,
    ), status


@bp.get("/books")
@requires_role(Role.CASHIER)
def day_books():
    """One clinic day's books, printable. 400 for a malformed day."""
    day = _day()
    if day is None:
        message = N_("Use a date such as 2026-12-01.")
        return render_template("error.html", title=N_("Invalid day"), detail=message), 400
    return _page(day)


@bp.get("/books.csv")
@requires_role(Role.CASHIER)
def day_books_csv():
    """One clinic day's books as CSV. 400 for a malformed day."""
    day = _day()
    if day is None:
        abort(400)
    return Response(
        csv_text(books_of(day)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="books-{day.isoformat()}.csv"'},
    )


@bp.post("/books/close")
@requires_role(Role.MANAGER)
def close():
    """Close a day that has ended. 409 for today or later, or for pending payments the
    manager has not confirmed; 422 for a missing or malformed day."""
    form = CloseDayForm()
    if not form.validate():
        return _page(clinic_today(), form, gettext("Pick the day to close."), 422)
    day = form.day.data
    try:
        books = close_day(day, current_user, pending_confirmed=form.pending_confirmed.data)
    except DayNotOver:
        message = gettext("Only a day that has ended can be closed.")
        return _page(day, form, message, 409)
    except PendingPayments as exc:
        message = ngettext(
            "%(num)d payment of this day is still pending. Tick the box to close the day anyway.",
            "%(num)d payments of this day are still pending. Tick the box to close the day anyway.",
            exc.count,
        )
        return _page(day, form, message, 409)
    flash(gettext("Day closed: its books no longer change."))
    return redirect(url_for("books.day_books", day=books.figures.day.isoformat()), 303)
