"""Helpers for refund outbox tests: paid payments, the provider's ledger, the worker as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from app.extensions import db
from app.models import ProviderRequest, SandboxRefund, utcnow
from app.payments import lifecycle
from tests.support.api import ApiClient

ROOT = Path(__file__).resolve().parents[2]


def paid_payment(app, factory, *, fee: str = "5000") -> int:
    """A completed payment (confirmed by staff with a fresh transaction id); its id."""
    api = ApiClient(app)
    patient, staff = factory.patient(), factory.staff()
    consultation = factory.consultation(patient, fee=fee)
    payment_id = api.new_payment(patient, consultation, method="stripe")
    response = api.confirm(staff, payment_id, transaction_id=f"sbx_txn_{payment_id}")
    assert response.status_code == 200, response.json
    return payment_id


def refund_now(app, payment_id: int, reason: str = "Doctor unavailable") -> None:
    with app.app_context():
        lifecycle.refund(payment_id, reason, actor="system:test")


def _rows(app, model, payment_id: int | None) -> list[dict[str, Any]]:
    with app.app_context():
        stmt = select(model).order_by(model.id)
        if payment_id is not None:
            stmt = stmt.where(model.payment_id == payment_id)
        rows = [
            {c.name: getattr(r, c.name) for c in model.__table__.columns}
            for r in db.session.scalars(stmt)
        ]
        db.session.rollback()
        return rows


def requests_of(app, payment_id: int | None = None) -> list[dict[str, Any]]:
    """The outbox rows (oldest first), read straight from the database."""
    return _rows(app, ProviderRequest, payment_id)


def ledger(app, payment_id: int | None = None) -> list[dict[str, Any]]:
    """The sandbox provider's refunds (its own ledger)."""
    return _rows(app, SandboxRefund, payment_id)


def make_due(app) -> None:
    """Skip the backoff wait and any lease: every pending row may be taken now.

    Time travel on the outbox's clock columns (no lifecycle call changes them)."""
    with app.app_context():
        db.session.execute(
            update(ProviderRequest)
            .where(ProviderRequest.state == "pending")
            .values(next_attempt_at=utcnow(), leased_until=None)
        )
        db.session.commit()


def worker_process(database_url: str, *args: str, **env: str) -> subprocess.Popen:
    """``flask payments send-outbox`` in its own process (APP_ENV=testing)."""
    flask = Path(sys.executable).with_name("flask")
    full_env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "RATELIMIT_ENABLED": "0",
        **env,
    }
    full_env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [str(flask), "--app", "app:create_app()", "payments", "send-outbox", *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
