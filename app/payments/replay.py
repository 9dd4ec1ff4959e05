"""Answering a repeated create from the Redis copy of its key's answer: no database read.

The copy is only ever what the database committed (``service.create_payment`` writes it
after the commit); a miss sends the request to the database.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from app.db import transaction
from app.payments import cache, idempotency
from app.payments.create_request import KEY_MISMATCH_DETAIL, Checkout
from app.payments.errors import KeyReuseMismatch
from app.payments.idempotency import Outcome
from app.payments.trace import CreateTrace

log = logging.getLogger("app.payments")


def replay_cached(
    checkout: Checkout, trace: CreateTrace, prefetched: cache.PrefetchedAnswer | None = None
) -> Outcome | None:
    """The answer Redis holds for the checkout's key, or None (a miss).

    :raise KeyReuseMismatch: the key was used for a different request.
    """
    found = cache.get_response(checkout.user_id, checkout.key_hash, prefetched)
    if found is None:
        return None
    outcome, fingerprint, counted = found
    if fingerprint != checkout.fingerprint:
        raise KeyReuseMismatch(KEY_MISMATCH_DETAIL)
    if not counted:
        _count_first_replay(checkout, outcome)
    trace.source = "redis"
    return outcome.again()


def _count_first_replay(checkout: Checkout, outcome: Outcome) -> None:
    """A key's first replay from Redis marks its row (once); later ones touch no database."""
    try:
        with transaction() as session:
            idempotency.count_first_replay(
                session, user_id=checkout.user_id, key_hash=checkout.key_hash
            )
    except SQLAlchemyError as exc:
        # The answer is already known; losing the count must not fail the replay.
        log.warning("payment.replay_count_lost error=%s", type(exc).__name__)
        return
    text = outcome.cache_text(checkout.fingerprint, replay_counted=True)
    cache.put_response(checkout.user_id, checkout.key_hash, text)
