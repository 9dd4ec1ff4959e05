"""Staff pages for senior citizen and PWD discounts: record a card, and the BIR's discount
log (page and CSV). Thin: parse, call one service or query, render. Staff only."""

from __future__ import annotations

from datetime import date, datetime

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from app.auth.roles import requires_role
from app.discounts import bp
from app.discounts.cards import (
    InvalidCard,
    NoSuchPatient,
    clear_card,
    parse_card,
    record_card,
    recorded_cards,
)
from app.discounts.forms import CardForm, ClearCardForm
from app.discounts.log import csv_text, discount_log
from app.formatting import clinic_tz
from app.invoices.routes import private, staff_only
from app.models import Role

# The staff invoice pages' rules: anonymous visitors to the login page, patients 403, and
# no cache may keep the page (patients' names and ID numbers).
bp.before_request(staff_only)
bp.after_request(private)


def _cards_page(form: CardForm, status: int = 200):
    return render_template(
        "discounts/cards.html", form=form, cards=recorded_cards(), clear_form=ClearCardForm()
    ), status


@bp.get("/discounts")
@requires_role(Role.MANAGER)
def cards():
    """The recorded senior citizen and PWD cards, and the form to record one."""
    return _cards_page(CardForm())


@bp.post("/discounts")
@requires_role(Role.MANAGER)
def record():
    """Record (or replace) a patient's card. 422 with the reasons when it cannot be."""
    form = CardForm()
    if not form.validate():
        return _cards_page(form, 422)
    try:
        details = parse_card(form.kind.data, form.id_number.data, form.holder_name.data)
        record_card(form.email.data, details, actor=f"user:{current_user.id}")
    except InvalidCard as exc:
        for field, message in exc.errors.items():
            getattr(form, field).errors = [gettext(message)]
        return _cards_page(form, 422)
    except NoSuchPatient:
        form.email.errors = [gettext("No patient has this email.")]
        return _cards_page(form, 422)
    flash(
        gettext(
            "Card recorded: %(name)s pays the discounted fee from now on.", name=details.holder_name
        )
    )
    return redirect(url_for("discounts.cards"), 303)


@bp.post("/discounts/clear")
@requires_role(Role.MANAGER)
def clear():
    """Remove a patient's card: their next checkout charges the full fee."""
    form = ClearCardForm()
    if not form.validate():
        abort(400)
    try:
        clear_card(form.email.data, actor=f"user:{current_user.id}")
    except NoSuchPatient:
        abort(404)
    flash(gettext("Card removed: the next checkout charges the full fee."))
    return redirect(url_for("discounts.cards"), 303)


def _period() -> tuple[date, date] | None:
    """``from`` and ``to`` (YYYY-MM-DD, clinic days); this month so far by default; None
    when either is malformed or they are out of order."""
    today = datetime.now(clinic_tz()).date()
    try:
        first = date.fromisoformat(request.args.get("from") or today.replace(day=1).isoformat())
        last = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        return None
    return (first, last) if first <= last and first.year >= 2000 and last.year <= 2999 else None


@bp.get("/discounts/log")
@requires_role(Role.CASHIER)
def log():
    """The discount log for a period, printable. 400 for a bad period."""
    period = _period()
    if period is None:
        message = gettext("Use two dates such as 2026-12-01, the first not after the second.")
        return render_template("discounts/log.html", log=None, error=message), 400
    return render_template("discounts/log.html", log=discount_log(*period), error=None)


@bp.get("/discounts/log.csv")
@requires_role(Role.CASHIER)
def log_csv():
    """The discount log for a period as CSV. 400 for a bad period."""
    period = _period()
    if period is None:
        abort(400)
    first, last = period
    return Response(
        csv_text(discount_log(first, last)),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=discounts-{first}-{last}.csv"},
    )
