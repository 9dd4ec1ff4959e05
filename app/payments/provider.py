"""The provider port: what the payments core needs from a payment provider, in its own terms.

A provider adapter (``app.gateway.sandbox`` today) does three things: it tells the checkout
where to send the patient to pay, it turns a provider's notification (raw body and headers)
into a verified ``ProviderEvent``, and it asks the provider to refund (always with an
idempotency key, see ``app.payments.refund_worker``). Applying the event is provider-neutral
and lives in ``app.gateway.webhooks``; which provider is configured, in
``app.gateway.provider``. This module imports nothing from the app at run time, so every
adapter and the core can depend on it without a cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.models import Payment

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_DECLINED = "payment.declined"
REFUND_SUCCEEDED = "refund.succeeded"
HANDLED_KINDS = (PAYMENT_SUCCEEDED, PAYMENT_DECLINED, REFUND_SUCCEEDED)


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


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer to a refund it performed (or had performed, for a repeated key).

    ``amount`` in pesos (``Decimal``, centavos); ``created_at`` is when the provider
    refunded, by its clock (aware UTC).
    """

    refund_id: str
    amount: Decimal
    currency: str
    created_at: datetime


class ProviderCallError(Exception):
    """A refund call that did not return a result. ``retryable`` says whether to send again."""

    retryable = True


class ProviderTimeout(ProviderCallError):
    """No answer in time: the provider may or may not have acted. Send again, same key."""


class ProviderUnavailable(ProviderCallError):
    """The provider answered 5xx (or 429): it may or may not have acted. Send again, same key."""


class ProviderRefused(ProviderCallError):
    """The provider refused for good (4xx): sending again cannot help; a person must act."""

    retryable = False


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

    @abstractmethod
    def refund(self, payment: Payment, amount: Decimal, idempotency_key: str) -> RefundResult:
        """Ask the provider to return ``amount`` (pesos) of ``payment``'s charge.

        Never called inside a database transaction. The provider acts at most once
        per ``idempotency_key``: the same key again answers with the first result.

        :raise ProviderTimeout: no answer in time (it may have acted).
        :raise ProviderUnavailable: 5xx or rate limited (it may have acted).
        :raise ProviderRefused: 4xx, refused for good.
        """
