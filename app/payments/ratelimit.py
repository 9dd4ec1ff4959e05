"""One payment budget per patient, shared by every door that creates payments."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from app.extensions import limiter


def _payment_limit() -> str:
    return current_app.config["RATELIMIT_PAYMENTS"]


def payment_limit(user_id: Callable[[], int]):
    """Limit a payment-creating view by ``RATELIMIT_PAYMENTS``, counted per user.

    Apply it after authentication, so the bucket is the user: not their address (a clinic's
    patients share one), and not token text (which would land in Redis keys and in logs).
    The checkout form and the API share the scope: one patient, one budget.
    """
    return limiter.shared_limit(
        _payment_limit, scope="payments", key_func=lambda: f"user:{user_id()}"
    )
