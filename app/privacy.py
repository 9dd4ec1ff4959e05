"""Keeping patients' personal data no longer than the law asks, and the books as long.

RA 10173 (Data Privacy Act) Sec. 11(e) and its IRR Sec. 19(d): personal data is kept only
as long as its purpose, or a law, needs it. The law that needs it here is NIRC Sec. 235 as
amended by RA 11976 (Ease of Paying Taxes Act, 2024): books of accounts and the invoices
behind them are kept 5 years from the day after the deadline of the return for the year
of their last entry (RR 17-2013 as amended by RR 5-2014 had asked 10). The annual return
is due the next April, so a record of year Y may go once year Y + 1 + years has ended:
the cutoff is 1 January of (this year − ``DATA_RETENTION_YEARS`` − 1), clinic time.

Past the cutoff, ``flask privacy purge`` anonymises; it deletes no row of the books. Kept: every amount,
status, invoice number, time and id, so the books' totals and the serial runs stay whole.
Blanked: the patient's name, email, password, tokens and second factor (the account is
disabled, its recovery codes deleted); receipt and checkout URLs; provider notification bodies; free text in payment
events (reasons); audit rows' addresses, hashed emails and export filters. Running it twice,
or from two crons at once, changes nothing more (every step skips what is already blank).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.extensions import db
from app.formatting import clinic_tz
from app.models import (
    AuditEvent,
    Consultation,
    GatewayEvent,
    Payment,
    PaymentEvent,
    RecoveryCode,
    Role,
    User,
    new_session_token,
)

ANONYMOUS_NAME = "Anonymised patient"
ANONYMOUS_DOMAIN = "anonymised.invalid"
#: Payment event fields that are books, not people: kept.
KEPT_EVENT_FIELDS = frozenset({"status", "transaction_id", "currency", "version", "method"})
#: A password hash no password matches (werkzeug's hashes always contain '$').
NO_PASSWORD = "!anonymised"


def retention_cutoff(now: datetime, years: int) -> datetime:
    """1 January of (``now``'s year − ``years`` − 1) in ``now``'s time zone: records
    before it are past retention (module docstring)."""
    return now.replace(
        year=now.year - years - 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0
    )


@dataclass
class Purge:
    """What is (or would be) anonymised: ids per table."""

    patients: list[int] = field(default_factory=list)
    payments: list[int] = field(default_factory=list)
    payment_events: list[int] = field(default_factory=list)
    gateway_events: list[int] = field(default_factory=list)
    audit_rows: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in vars(self).items()}


def plan(cutoff: datetime, session: Session | None = None) -> Purge:
    """Read only: the rows past ``cutoff`` that still hold personal data."""
    s = session or db.session
    old_payments = select(Payment.id).where(Payment.created_at < cutoff)
    return Purge(
        patients=list(s.scalars(_stale_patients(cutoff))),
        payments=list(
            s.scalars(
                old_payments.where(
                    or_(Payment.receipt_url.is_not(None), Payment.checkout_url.is_not(None))
                )
            )
        ),
        payment_events=[
            e.id
            for e in s.scalars(
                select(PaymentEvent).where(
                    or_(
                        PaymentEvent.created_at < cutoff,
                        PaymentEvent.payment_id.in_(old_payments),
                    )
                )
            )
            if _kept(e.data) != (e.data or {})
        ],
        gateway_events=list(
            s.scalars(
                select(GatewayEvent.id).where(
                    GatewayEvent.received_at < cutoff, GatewayEvent.body != b""
                )
            )
        ),
        audit_rows=[
            row.id
            for row in s.scalars(select(AuditEvent).where(AuditEvent.at < cutoff))
            if _scrubbed_audit(row) != (row.address, row.actor_label, row.detail or {})
        ],
    )


def _scrubbed_audit(row: AuditEvent) -> tuple[None, str | None, dict]:
    """An audit row's address, actor label and detail once anonymised: who acted (a staff
    id) and on whose record stay; the address, a hashed email and an export's filter go."""
    label = None if (row.actor_label or "").startswith("email:") else row.actor_label
    return None, label, {k: v for k, v in (row.detail or {}).items() if k == "rows"}


def _stale_patients(cutoff: datetime):
    """Patients with nothing at or after the cutoff: no newer account, consultation or
    payment (a returning patient keeps their name on their newer records)."""
    newer_consultation = exists().where(
        Consultation.patient_id == User.id,
        or_(Consultation.created_at >= cutoff, Consultation.scheduled_at >= cutoff),
    )
    newer_payment = exists().where(Payment.user_id == User.id, Payment.created_at >= cutoff)
    return select(User.id).where(
        User.role == Role.PATIENT,
        User.created_at < cutoff,
        ~User.email.endswith("@" + ANONYMOUS_DOMAIN),
        ~newer_consultation,
        ~newer_payment,
    )


def purge(cutoff: datetime) -> Purge:
    """Anonymise what ``plan`` finds, in one transaction (all of it or nothing)."""
    with transaction() as session:
        found = plan(cutoff, session)
        for user in session.scalars(select(User).where(User.id.in_(found.patients))):
            _anonymise(user)
        session.execute(
            update(Payment)
            .where(Payment.id.in_(found.payments))
            .values(receipt_url=None, checkout_url=None)
        )
        for event in session.scalars(
            select(PaymentEvent).where(PaymentEvent.id.in_(found.payment_events))
        ):
            event.data = _kept(event.data)
        session.execute(
            update(GatewayEvent).where(GatewayEvent.id.in_(found.gateway_events)).values(body=b"")
        )
        for row in session.scalars(select(AuditEvent).where(AuditEvent.id.in_(found.audit_rows))):
            row.address, row.actor_label, row.detail = _scrubbed_audit(row)
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id.in_(found.patients)))
    return found


def _anonymise(user: User) -> None:
    user.name = ANONYMOUS_NAME
    user.email = f"patient-{user.id}@{ANONYMOUS_DOMAIN}"
    user.password_hash = NO_PASSWORD
    user.api_token_hash = None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.locale = None
    user.active = False
    user.session_token = new_session_token()


def _kept(data: dict | None) -> dict:
    return {
        k: v for k, v in (data or {}).items() if k in KEPT_EVENT_FIELDS or "amount" in k.lower()
    }


privacy_cli = AppGroup("privacy", help="Keep personal data only as long as the law asks.")


@privacy_cli.command("purge")
@click.option("--apply", "apply_", is_flag=True, help="Anonymise (without it: only report).")
def purge_command(apply_: bool) -> None:
    """Anonymise patients' personal data past DATA_RETENTION_YEARS (docs/operations.md).

    A dry run by default: it prints what would change and changes nothing. Safe to run from
    cron, daily; a second run finds nothing left to do.
    """
    now = datetime.now(clinic_tz())
    cutoff = retention_cutoff(now, current_app.config["DATA_RETENTION_YEARS"])
    found = purge(cutoff) if apply_ else plan(cutoff)
    verb = "Anonymised" if apply_ else "Would anonymise (dry run; --apply to act)"
    click.echo(f"{verb}: records before {cutoff.date().isoformat()} (clinic time)")
    for name, count in found.counts().items():
        click.echo(f"  {name}: {count}")
