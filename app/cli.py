"""``flask users ...``, ``flask consultations ...``, ``flask demo seed``, ``flask payments ...``,
``flask privacy purge``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.auth.tokens import rotate_token
from app.db import transaction
from app.extensions import db
from app.models import MIN_FEE, Consultation, Role, User, money, utcnow
from app.payments import lifecycle, service
from app.payments.cli import payments_cli
from app.payments.requests import parse_payment_request, unstorable
from app.privacy import privacy_cli
from app.staff.accounts import reset_two_factor

users_cli = AppGroup("users", help="Create users and API tokens.")
consultations_cli = AppGroup("consultations", help="Create consultations.")
demo_cli = AppGroup("demo", help="Demo data for `make dev`.")

DEMO_PATIENT = ("patient@example.com", "patient-demo-pass", "Maria Santos")
DEMO_PATIENT_2 = ("patient2@example.com", "patient-demo-pass", "Jose Reyes")
DEMO_STAFF = ("staff@example.com", "staff-demo-pass", "Clinic Staff")


def create_user(email: str, password: str, role: str, name: str | None = None) -> User:
    """Create a user (no commit); the email is stored lower-cased."""
    email = email.strip().lower()
    _refuse_unstorable(email, "--email")
    _refuse_unstorable(name, "--name")
    if "@" not in email:
        raise click.BadParameter("not an email address", param_hint="--email")
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise click.ClickException(f"A user with email {email} already exists.")
    user = User(
        email=email,
        name=name or email.split("@")[0],
        password_hash=generate_password_hash(password),
        role=role,
    )
    db.session.add(user)
    return user


def _refuse_unstorable(value: str | None, option: str) -> None:
    # A command line cannot hold NUL, but bytes that are not UTF-8 arrive as lone surrogates.
    if unstorable(value):
        raise click.BadParameter("holds bytes that are not valid UTF-8", param_hint=option)


def _user_by_email(email: str) -> User:
    _refuse_unstorable(email, "email")
    user = db.session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    return user


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default="patient")
@click.option("--name", default=None)
def users_create(email: str, password: str, role: str, name: str | None) -> None:
    """Create a user: a patient, a cashier or a manager (--role)."""
    with transaction():
        user = create_user(email, password, role, name)
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("token")
@click.argument("email")
def users_token(email: str) -> None:
    """Print a new API token for EMAIL (the old one stops working)."""
    token = rotate_token(_user_by_email(email))
    click.echo(token)


@users_cli.command("reset-2fa")
@click.argument("email")
def users_reset_two_factor(email: str) -> None:
    """Forget EMAIL's two-factor sign-in (a lost phone): the TOTP secret and recovery codes
    are deleted, their sessions end, an audit row records it; they enrol again at sign-in."""
    user = _user_by_email(email)
    if reset_two_factor(user.id, "system:cli") is None:
        raise click.ClickException(f"{user.email} is not a staff account.")
    click.echo(f"Two-factor sign-in reset for {user.email}; their sessions have ended.")


@users_cli.command("set-password")
@click.argument("email")
@click.password_option("--password", help="The new password (asked twice when left out).")
def users_set_password(email: str, password: str) -> None:
    """Set EMAIL's password and log them out everywhere (API tokens keep working)."""
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")
    with transaction():
        _user_by_email(email).set_password(password)
    click.echo(f"Password changed for {email.strip().lower()}; their sessions have ended.")


def parse_fee(raw: str) -> Decimal:
    try:
        fee = Decimal(raw)
    except InvalidOperation:
        raise click.BadParameter("must be a number such as 5000", param_hint="--fee") from None
    if not fee.is_finite() or fee < MIN_FEE or fee >= Decimal(10) ** 10:
        raise click.BadParameter(f"must be at least {MIN_FEE}", param_hint="--fee")
    return money(fee)


AT_EXAMPLE = "2026-12-01T10:30+08:00"


def parse_when(raw: str | None) -> datetime:
    """An ISO 8601 time with its UTC offset (``2026-12-01T10:30+08:00``), tomorrow if None.

    Stored as the same instant in UTC (``app.models.UTCDateTime`` converts).
    :raise click.BadParameter: not ISO 8601, or no offset.
    """
    if raw is None:
        return utcnow() + timedelta(days=1)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(f"use ISO 8601, e.g. {AT_EXAMPLE}", param_hint="--at") from None
    if when.tzinfo is None:
        raise click.BadParameter(f"include a UTC offset, e.g. {AT_EXAMPLE}", param_hint="--at")
    return when


@consultations_cli.command("create")
@click.option("--patient", "patient_email", required=True, help="The patient's email.")
@click.option("--fee", required=True, help="The fee in PHP, at least 1000.")
@click.option("--doctor", default="Dr. Ana Cruz")
@click.option(
    "--at", "at", default=None, help=f"ISO 8601 time with its UTC offset, e.g. {AT_EXAMPLE}."
)
def consultations_create(patient_email: str, fee: str, doctor: str, at: str | None) -> None:
    """Create a consultation for a patient and print its id."""
    amount = parse_fee(fee)
    when = parse_when(at)
    _refuse_unstorable(doctor, "--doctor")
    with transaction() as session:
        patient = _user_by_email(patient_email)
        if patient.role != Role.PATIENT:
            raise click.ClickException(f"{patient.email} is not a patient.")
        consultation = Consultation(
            patient_id=patient.id, doctor_name=doctor, scheduled_at=when, fee=amount
        )
        session.add(consultation)
    click.echo(consultation.id)


DEMO_CONSULTATIONS = [
    ("Dr. Ana Cruz", 2, "5000"),
    ("Dr. Ramon Dela Rosa", 5, "1500"),
    ("Dr. Liza Mercado", 9, "2750.50"),
]


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo users and consultations; running it again changes nothing."""
    with transaction() as session:
        created = []
        for email, password, name in (DEMO_PATIENT, DEMO_PATIENT_2):
            if not db.session.execute(select(User.id).where(User.email == email)).first():
                created.append(create_user(email, password, Role.PATIENT, name))
        if not db.session.execute(select(User.id).where(User.email == DEMO_STAFF[0])).first():
            created.append(create_user(DEMO_STAFF[0], DEMO_STAFF[1], Role.MANAGER, DEMO_STAFF[2]))
        session.flush()
        for user in created:
            if user.role != Role.PATIENT:
                continue
            base = utcnow().replace(hour=1, minute=0, second=0, microsecond=0)
            for doctor, days, fee in DEMO_CONSULTATIONS:
                session.add(
                    Consultation(
                        patient_id=user.id,
                        doctor_name=doctor,
                        scheduled_at=base + timedelta(days=days),
                        fee=money(fee),
                    )
                )
    if any(u.email == DEMO_PATIENT_2[0] for u in created):
        _demo_payments(DEMO_PATIENT_2[0])
    port = os.environ.get("PORT", "5000")  # make dev PORT=...
    click.echo(f"Demo data ready. Log in at http://127.0.0.1:{port}/login with:")
    click.echo(f"  patient: {DEMO_PATIENT[0]} / {DEMO_PATIENT[1]}")
    click.echo(f"  patient: {DEMO_PATIENT_2[0]} / {DEMO_PATIENT_2[1]}")
    click.echo(f"  staff:   {DEMO_STAFF[0]} / {DEMO_STAFF[1]}")


DEMO_REFUND_REASON = "The doctor was unavailable; the clinic cancelled the consultation."


def _demo_payments(email: str) -> None:
    """Give staff invoices to look at: the second demo patient paid one consultation
    (confirmed by the sandbox provider), started paying another, and was refunded for the
    third (its refund waits in the outbox: `make dev`'s refund worker sends it to the
    sandbox provider), all through the same service calls a real checkout makes."""
    patient = _user_by_email(email)
    consultation_ids = sorted(c.id for c in patient_consultations(patient.id))
    for cid, method, end in zip(
        consultation_ids,
        ("gcash", "stripe", "bank_transfer"),
        ("paid", "pending", "refunded"),
        strict=False,
    ):
        req = parse_payment_request(
            consultation_id=cid, payment_method=method, idempotency_key=f"demo-seed-{cid}"
        )
        outcome = service.create_payment(patient, req)
        if end != "pending" and outcome.payment_id:
            lifecycle.confirm(
                outcome.payment_id,
                transaction_id=f"sbx_txn_{outcome.payment_id}",
                actor="gateway:sandbox",
            )
        if end == "refunded" and outcome.payment_id:
            lifecycle.refund(outcome.payment_id, DEMO_REFUND_REASON, actor="system:demo")


def patient_consultations(patient_id: int) -> list[Consultation]:
    return list(
        db.session.scalars(select(Consultation).where(Consultation.patient_id == patient_id))
    )


def init_app(app: Flask) -> None:
    """Add the ``flask`` command groups."""
    app.cli.add_command(users_cli)
    app.cli.add_command(consultations_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(privacy_cli)
