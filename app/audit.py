"""``audit.record(...)``: one append-only row for a staff view, export, money action or sign-in.

The row goes into the caller's session and commits with the caller's transaction, so an
action and its audit row are written together or not at all (a refund that rolls back
leaves no "refunded" row). ``viewed`` is for pages that read and change nothing: it
commits the row itself before the page is shown, so no page is shown unrecorded.

Rows are never updated or deleted by the app, except by the retention purge
(``app/privacy.py``), which blanks their personal fields past ``DATA_RETENTION_YEARS``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Session

from app.db import transaction
from app.extensions import db
from app.models import AuditAction, AuditEvent, Payment, User

_USER_LABEL = re.compile(r"user:(\d{1,10})")


def record(
    action: AuditAction,
    *,
    actor: User | str | None = None,
    payment: Payment | None = None,
    patient_id: int | None = None,
    session: Session | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add one audit row to ``session`` (default: ``db.session``); the caller commits.

    :param actor: the user who acted, or a payment event's actor label (``"user:7"``,
        ``"system:expire-stale"``); None: the signed-in user of this request, if any.
    :param payment: the payment acted on; its patient is recorded too.
    :param patient_id: whose data it was, when no single payment is concerned.
    :param detail: JSON-safe facts (an export's filter and row count, a reason).
    """
    actor_id, label = _actor(actor)
    event = AuditEvent(
        action=str(action),
        actor_id=actor_id,
        actor_label=label,
        patient_id=payment.user_id if payment is not None else patient_id,
        payment_id=payment.id if payment is not None else None,
        address=client_address(),
        detail=detail,
    )
    (session or db.session).add(event)
    return event


def viewed(action: AuditAction, **fields: Any) -> None:
    """Record a read (a page or an export) and commit it before anything is shown."""
    with transaction() as session:
        record(action, session=session, **fields)


def client_address() -> str | None:
    """The client's address as the app sees it: after ``TRUSTED_PROXY_HOPS`` (ProxyFix)."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:64] or None


def _actor(actor: User | str | None) -> tuple[int | None, str | None]:
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()
    if actor is None:
        return None, None
    if isinstance(actor, str):
        found = _USER_LABEL.fullmatch(actor)
        return (int(found.group(1)) if found else None), actor[:120]
    return actor.id, f"user:{actor.id}"
