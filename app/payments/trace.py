"""The one log line (and metrics) each create request ends with: its outcome, where the
answer came from, how long it took and how long it waited for its key."""

from __future__ import annotations

import logging
import time
from typing import Any

from app import metrics
from app.payments.errors import KeyReuseMismatch, PaymentInProgress, PaymentsBusy
from app.payments.idempotency import Outcome

log = logging.getLogger("app.payments")


class CreateTrace:
    """One structured log line per outcome: ids, a key hash prefix, the duration."""

    def __init__(self, user_id: int, consultation_id: int, key_hash: str | None):
        self.user_id = user_id
        self.consultation_id = consultation_id
        self.key = key_hash[:16] if key_hash else "-"
        self.started = time.perf_counter()
        self.source = None
        self.waited_ms = 0.0

    def _emit(self, level: int, outcome: str, payment_id: Any = "-", **more: Any) -> None:
        duration = (time.perf_counter() - self.started) * 1000
        metrics.payment_outcome(outcome, more.get("source"), duration, self.waited_ms)
        extra = "".join(f" {k}={v}" for k, v in more.items())
        log.log(
            level,
            "payment.outcome outcome=%s payment_id=%s consultation_id=%s user_id=%s "
            "key_hash=%s duration_ms=%.1f%s",
            outcome,
            payment_id,
            self.consultation_id,
            self.user_id,
            self.key,
            duration,
            extra,
        )

    def done(self, outcome: Outcome) -> None:
        if outcome.replayed:
            name = "replayed"
        elif outcome.created:
            name = "created"
        else:
            name = "conflict"
        more: dict[str, Any] = {"status": outcome.status}
        if self.source:
            more["source"] = self.source
        if self.waited_ms > 50:
            more["waited_ms"] = f"{self.waited_ms:.0f}"
        self._emit(logging.INFO, name, outcome.payment_id, **more)

    def refused(self, exc: Exception) -> None:
        names = {
            KeyReuseMismatch: "key_mismatch",
            PaymentInProgress: "in_progress",
            PaymentsBusy: "lock_timeout",
        }
        name = next((n for cls, n in names.items() if isinstance(exc, cls)), "refused")
        self._emit(logging.WARNING, name, error=type(exc).__name__)
