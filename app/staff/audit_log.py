"""Reading the audit trail: the manager's filtered list and one patient's CSV of who saw
their data (what a patient may ask the clinic under RA 10173 Sec. 16, the right of access)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.formatting import clinic_tz
from app.i18n import N_

# The invoice export's rule for a cell a spreadsheet would run as a formula.
from app.invoices.export import _text as spreadsheet_text
from app.invoices.history import actor_label
from app.models import AuditAction, AuditEvent, User

PAGE_SIZE = 100
ACTIONS = tuple(a.value for a in AuditAction)
#: Each action in words (English msgids, shown in the reader's language); the CSV keeps the
#: codes, which stay the same in every language.
ACTION_WORDS = {
    AuditAction.INVOICE_VIEWED: N_("Opened an invoice"),
    AuditAction.INVOICES_EXPORTED: N_("Exported invoices"),
    AuditAction.PAYMENT_VIEWED: N_("Opened a payment"),
    AuditAction.REFUNDED: N_("Refunded a payment"),
    AuditAction.DELETED: N_("Deleted a payment"),
    AuditAction.DISCOUNT_CHANGED: N_("Changed a discount card"),
    AuditAction.DAY_CLOSED: N_("Closed a day"),
    AuditAction.SIGN_IN: N_("Signed in"),
    AuditAction.SIGN_IN_FAILED: N_("Sign-in failed"),
    AuditAction.SECOND_FACTOR_FAILED: N_("Wrong two-factor code"),
    AuditAction.TWO_FACTOR_ENROLLED: N_("Set up two-factor sign-in"),
    AuditAction.TWO_FACTOR_RESET: N_("Reset two-factor sign-in"),
    AuditAction.RECOVERY_CODE_USED: N_("Used a recovery code"),
    AuditAction.ACCOUNT_CREATED: N_("Created a staff account"),
    AuditAction.ACCOUNT_DISABLED: N_("Disabled a staff account"),
    AuditAction.AUDIT_EXPORTED: N_("Exported who saw a patient's data"),
}


def action_word(action: str) -> str:
    """An audit action (``invoice.viewed``) in the reader's language; an unknown one as stored."""
    return gettext(ACTION_WORDS[action]) if action in ACTION_WORDS else action


def actor_word(label: str | None) -> str:
    """Who acted, from a row's ``actor_label`` when no account name is known:
    ``system:demo`` as "System (demo data)", a failed sign-in's email hash as "Unknown email"."""
    return actor_label(label, {}) if label else ""


class InvalidAuditFilter(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor: int | None = None
    patient: int | None = None
    since: date | None = None
    until: date | None = None


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """Query-string arguments as a filter; empty ones are ignored.

    :raise InvalidAuditFilter: field -> English msgid, for any value that is not one.
    """
    errors: dict[str, str] = {}
    values: dict = {}
    action = (args.get("action") or "").strip()
    if action and action not in ACTIONS:
        errors["action"] = N_("Choose an action from the list.")
    values["action"] = action or None
    for name in ("actor", "patient"):
        raw = (args.get(name) or "").strip()
        if raw and not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31):
            errors[name] = N_("Enter an account number.")
        values[name] = int(raw) if raw and name not in errors else None
    for name in ("since", "until"):
        raw = (args.get(name) or "").strip()
        try:
            values[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            errors[name] = N_("Enter a date as YYYY-MM-DD.")
    if errors:
        raise InvalidAuditFilter(errors)
    return AuditFilter(**values)


def _query(f: AuditFilter) -> Select:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.actor:
        query = query.where(AuditEvent.actor_id == f.actor)
    if f.patient:
        query = query.where(AuditEvent.patient_id == f.patient)
    if f.since:
        query = query.where(AuditEvent.at >= _clinic_midnight(f.since))
    if f.until:
        query = query.where(AuditEvent.at < _clinic_midnight(f.until + timedelta(days=1)))
    return query


def _clinic_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=clinic_tz())


def page(f: AuditFilter, number: int = 1) -> tuple[list[tuple[AuditEvent, str, str]], bool]:
    """One page of rows, newest first, each with the actor's and patient's names; and
    whether there is a next page."""
    actor, patient = aliased(User), aliased(User)
    query = (
        _query(f)
        .add_columns(actor.name, patient.name)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(patient, patient.id == AuditEvent.patient_id)
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    rows = [tuple(r) for r in db.session.execute(query)]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


CSV_HEADER = ("when_utc", "who", "who_id", "action", "payment_id", "from_address")


def patient_csv(patient_id: int) -> str:
    """A CSV document: every audit row about ``patient_id``'s data, oldest first."""
    actor = aliased(User)
    query = (
        select(AuditEvent, actor.name)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .where(AuditEvent.patient_id == patient_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for event, name in db.session.execute(query):
        writer.writerow(
            (
                event.at.isoformat(),
                spreadsheet_text(name or event.actor_label),
                event.actor_id or "",
                event.action,
                event.payment_id or "",
                event.address or "",
            )
        )
    return buffer.getvalue()
