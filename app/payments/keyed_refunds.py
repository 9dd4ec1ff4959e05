"""A refund asked with an ``Idempotency-Key``: applied once, its first answer replayed.

The key is claimed on the same durable record a create's key is (``idempotency_keys``,
``service``'s claim and ``decisions.decide_key``), inside the refund's own transaction and
after the payment's lock: concurrent requests with one key wait for each other on the lock,
and every one after the first finds the key finished and replays its answer. A key and its
answer commit with the refund or not at all.

A refusal (409 more than is left, a stale version...) leaves no key behind: it changed
nothing, so the same request sent again is decided afresh. A key already used for another
request (another payment, amount or reason; or a create) is refused with 422.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.models import IdempotencyKey, Payment, Role
from app.payments import idempotency
from app.payments.create_request import answer
from app.payments.idempotency import Outcome
from app.payments.lifecycle import Actor, Transition, actor_label, refund_locked, run
from app.payments.requests import RefundRequest, parse_refund_request
from app.payments.service import _claim_key
from app.payments.trace import CreateTrace


@dataclass(frozen=True)
class RefundKey:
    """What the key's claim needs to know about one keyed refund request (the fields
    ``service``'s claim reads); ``consultation_id`` is the payment's."""

    user_id: int
    key_hash: str
    fingerprint: str
    expires: datetime
    consultation_id: int


def fingerprint_parts(payment_id: int, req: RefundRequest) -> str:
    """What makes two refund requests the same: the payment, the reason, the amount (None:
    all that is left) and the expected version. Prefixed so no create's parts can match."""
    amount = "" if req.amount is None else str(req.amount)
    version = "" if req.expected_version is None else str(req.expected_version)
    return f"refund|{payment_id}|{amount}|{version}|{req.reason}"


def refund(
    payment_id: int,
    reason: Any,
    actor: Actor,
    *,
    key: str | None,
    render: Callable[[Transition], dict[str, Any]],
    amount: Any = None,
    expected_version: Any = None,
    body_key: Any = None,
) -> Outcome:
    """``lifecycle.refund`` once per ``key``: the first request refunds and its 200 answer,
    ``render``'s body, is stored on the key; a repeat with the same request gets that answer
    (``replayed``) and refunds nothing. ``actor`` must be a user (the key is theirs). ``key``
    is the ``Idempotency-Key`` header's, ``body_key`` the body's ``idempotency_key``: at least
    one is sent, both only if equal.

    :raise KeyReuseMismatch: 422, the key was used for a different request.
    :raise PaymentInProgress: 409, the key's first request still runs past the wait bound.
    Otherwise as ``lifecycle.refund`` (403, 404, 422, 409, 503).
    """
    label = actor_label(actor, "refund", Role.MANAGER)
    req = parse_refund_request(
        reason=reason,
        amount=amount,
        expected_version=expected_version,
        header_idempotency_key=key,
        idempotency_key=body_key,
    )
    ttl = current_app.config["IDEMPOTENCY_TTL"]
    step = partial(
        _refund_once,
        req=req,
        label=label,
        user_id=actor.id,
        key_hash=idempotency.hash_key(req.idempotency_key),
        fingerprint=idempotency.fingerprint(fingerprint_parts(payment_id, req)),
        expires=idempotency.expires_at(ttl),
        render=render,
    )
    outcome, refusal = run(payment_id, step)
    if refusal is not None:
        raise refusal
    return outcome


def _refund_once(
    session: Session,
    payment: Payment,
    *,
    req: RefundRequest,
    label: str,
    user_id: int,
    key_hash: str,
    fingerprint: str,
    expires: datetime,
    render: Callable[[Transition], dict[str, Any]],
) -> tuple[Outcome | None, Exception | None]:
    claim = RefundKey(user_id, key_hash, fingerprint, expires, payment.consultation_id)
    step = _claim_key(session, claim, CreateTrace(user_id, payment.consultation_id, key_hash))
    if step.answered:
        return step.outcome, None
    result = refund_locked(
        session,
        payment,
        reason=req.reason,
        actor=label,
        amount=req.amount,
        expected_version=req.expected_version,
    )
    if result.refusal is not None:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key_hash == key_hash
            )
        )
        return None, result.refusal
    outcome = answer(200, render(result), payment.id, expires)
    idempotency.finish(session, user_id=user_id, key_hash=key_hash, outcome=outcome)
    return outcome, None
