"""What the app needs from a payment provider, in the app's own terms.

A provider adapter does two things: it tells the checkout where to send the
patient to pay, and it turns a provider's notification (raw body and headers)
into a verified ``ProviderEvent``. Applying the event is provider-neutral and
lives in ``app.gateway.webhooks``; which provider is configured, in
``app.gateway.provider``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_DECLINED = "payment.declined"
HANDLED_KINDS = (PAYMENT_SUCCEEDED, PAYMENT_DECLINED)


@dataclass(frozen=True)
class ProviderEvent:
    """A provider's notification, verified and read, but not yet applied."""

    event_id: str
    kind: str
    payment_id: int | None
    transaction_id: Any = None
    receipt_url: Any = None
    reason: str | None = None
    # What the provider says it charged, as sent (compared with the payment, never trusted).
    amount: Any = None
    currency: Any = None
    payload: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(ABC):
    """A payment provider adapter."""

    #: Names the provider in audit records: ``gateway:<name>``.
    name: str

    @abstractmethod
    def checkout_url(self, payment_id: int) -> str:
        """Where the patient goes to pay ``payment_id`` (the provider's hosted page)."""

    @abstractmethod
    def read_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify a notification's signature, then read it.

        :raise BadSignature: 401, it cannot be trusted.
        :raise MalformedWebhook: 400, it is signed but not an event we can read.
        """
