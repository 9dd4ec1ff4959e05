"""The provider port: what the payments core needs from a payment provider, in its own terms.

A provider adapter (``app.gateway.sandbox``, ``app.gateway.paymongo``):

- starts a hosted checkout for a payment (``start_checkout``: the provider's
  session id and the URL to send the patient to) and expires it
  (``expire_checkout``) when we will not use it;
- tells what it knows about a session (``lookup``: a ``CheckoutSnapshot``), so a
  missed notification can be recovered by asking;
- refunds (``refund``), once per idempotency key: a provider that honours keys
  does it by itself; one that does not (PayMongo) answers ``find_refund`` so
  ``refund_once`` looks before sending again (``app.payments.refund_worker`` sends);
- turns a notification (raw body and headers) into a verified ``ProviderEvent``.

Every call but ``read_notification`` is a network call: never made inside a
database transaction. Applying an event is provider-neutral and lives in
``app.gateway.webhooks``; which provider is configured, in ``app.gateway.provider``.
This module imports nothing from the app at run time, so every adapter and the core
can depend on it without a cycle.
"""

from __future__ import annotations

import enum
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
#: A refund the provider had accepted and then reports as failed: the money did not go back.
REFUND_FAILED = "refund.failed"
#: The provider expired or cancelled a hosted checkout on its own (``session_id``).
CHECKOUT_EXPIRED = "checkout.expired"
HANDLED_KINDS = (
    PAYMENT_SUCCEEDED,
    PAYMENT_DECLINED,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
    CHECKOUT_EXPIRED,
)


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
    # What a real provider also reports about the charge (None when it does not say):
    # its method name, its fee and the net it pays out, in pesos.
    method: str | None = None
    fee: Decimal | None = None
    net: Decimal | None = None
    # For a refund notification: the provider's refund, in the app's terms.
    refund: RefundNotice | None = None
    # The provider's hosted checkout the event is about, where it says.
    session_id: str | None = None


@dataclass(frozen=True)
class RefundNotice:
    """A refund the provider reports: its id, our idempotency key, pesos, when (aware UTC)."""

    refund_id: str
    idempotency_key: str
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True)
class CheckoutRequest:
    """What a provider needs to start a hosted checkout for one of our payments.

    ``amount`` in pesos (``Decimal``, whole centavos); ``method`` is our
    ``PaymentMethod`` value (the patient's choice); ``reference`` is our payment
    reference, sent to the provider and read back from its notifications. Nothing
    about the consultation itself goes to the provider.
    """

    payment_id: int
    reference: str
    amount: Decimal
    currency: str
    method: str
    success_url: str
    cancel_url: str


@dataclass(frozen=True)
class HostedCheckout:
    """A provider's hosted checkout: its session id (stored on the payment) and its URL."""

    session_id: str
    url: str


class SessionState(enum.StrEnum):
    """A hosted checkout as the provider sees it."""

    OPEN = "open"  # payable
    PAID = "paid"  # a charge succeeded
    EXPIRED = "expired"  # no longer payable, nothing charged


class ChargeStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class ProviderCharge:
    """One charge (attempt) the provider made in a hosted checkout.

    Amounts in pesos (``Decimal``); ``fee`` and ``net`` are None when the provider
    does not say; ``paid_at`` aware UTC.
    """

    charge_id: str
    status: ChargeStatus
    amount: Decimal
    currency: str
    method: str | None = None
    fee: Decimal | None = None
    net: Decimal | None = None
    paid_at: datetime | None = None
    failure: str | None = None


@dataclass(frozen=True)
class CheckoutSnapshot:
    """What the provider knows about a hosted checkout (``lookup``), provider-neutral.

    ``payment_id`` is ours, read back from the provider's copy of our reference.
    """

    session_id: str
    state: SessionState
    payment_id: int | None
    reference: str | None
    charges: tuple[ProviderCharge, ...] = ()

    @property
    def paid_charge(self) -> ProviderCharge | None:
        """The charge that paid this checkout, if any."""
        return next((c for c in self.charges if c.status is ChargeStatus.PAID), None)

    def paid_event(self) -> ProviderEvent | None:
        """The success this snapshot shows, as the event a notification would have carried.

        For recovering a missed notification through the webhook's own code. Its id,
        ``lookup:<charge id>``, is the same on every lookup, so repeated syncs apply it
        once; a notification for the same charge (another id) then finds the charge
        already recorded and changes nothing.
        """
        paid = self.paid_charge
        if paid is None or self.payment_id is None:
            return None
        return ProviderEvent(
            f"lookup:{paid.charge_id}",
            PAYMENT_SUCCEEDED,
            self.payment_id,
            transaction_id=paid.charge_id,
            amount=str(paid.amount),
            currency=paid.currency,
            method=paid.method,
            fee=paid.fee,
            net=paid.net,
        )


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer to a refund it performed (or had performed, for a repeated key).

    ``amount`` in pesos (``Decimal``, centavos); ``created_at`` is when the provider
    refunded, by its clock (aware UTC). ``settled`` is False while the provider has accepted
    the refund but not yet returned the money (PayMongo ``pending``/``processing``, Xendit
    ``PENDING``): the outbox then keeps its row pending and asks again (``refund_progress``)
    until an answer or a notification says it succeeded or failed.
    """

    refund_id: str
    amount: Decimal
    currency: str
    created_at: datetime
    settled: bool = True


class ProviderCallError(Exception):
    """A provider call that did not return a result. ``retryable`` says whether to send again."""

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
    #: True when the provider acts at most once per idempotency key by itself; False
    #: when ``refund_once`` must look for an earlier refund (``find_refund``) first.
    honours_idempotency_keys: bool = True
    #: True when each ``start_checkout`` makes a new session at the provider, so the one
    #: made for a payment must be stored and reused (``app.payments.checkout_session``);
    #: False when ``checkout_url`` is the payment's page by itself (the sandbox).
    stores_checkouts: bool = True

    @abstractmethod
    def checkout_url(self, payment_id: int) -> str:
        """Where the patient goes to pay ``payment_id`` (the provider's hosted page)."""

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> HostedCheckout:
        """Create a hosted checkout for ``request`` at the provider.

        A network call: the outcome of one that fails is unknown (the provider may
        have made the session), so the caller must treat a retry as "maybe a second
        session" and expire whichever it will not use.

        :raise ProviderTimeout: no answer in time.
        :raise ProviderUnavailable: 5xx or rate limited.
        :raise ProviderRefused: 4xx, refused for good.
        """

    @abstractmethod
    def expire_checkout(self, session_id: str) -> None:
        """Make the hosted checkout unpayable. Expiring an expired one is not an error.

        :raise ProviderRefused: the provider will not (for instance, it is paid already).
        :raise ProviderTimeout: :raise ProviderUnavailable: try again later.
        """

    @abstractmethod
    def lookup(self, session_id: str) -> CheckoutSnapshot:
        """Ask the provider what happened in the hosted checkout ``session_id``.

        :raise ProviderRefused: unknown session.
        :raise ProviderTimeout: :raise ProviderUnavailable: try again later.
        """

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

    def find_refund(self, payment: Payment, idempotency_key: str) -> RefundResult | None:
        """The refund of ``payment`` made for ``idempotency_key``, if the provider has one.

        Only asked of providers that do not honour idempotency keys; the default
        (a provider that does) never needs to look.

        :raise ProviderTimeout: :raise ProviderUnavailable: the provider could not say.
        """
        return None

    def refund_progress(
        self, payment: Payment, refund_id: str, idempotency_key: str
    ) -> RefundResult:
        """Where the refund ``refund_id`` stands now, after the provider accepted it unsettled.

        The default is for a provider whose refunds settle in the answer (the sandbox).

        :raise ProviderRefused: the provider reports the refund failed: a person must act.
        :raise ProviderTimeout: :raise ProviderUnavailable: the provider could not say.
        """
        raise ProviderUnavailable(f"{self.name} cannot be asked about refund {refund_id}.")

    def refund_once(
        self, payment: Payment, amount: Decimal, idempotency_key: str, *, retry: bool
    ) -> RefundResult:
        """``refund``, made safe to send again after a timeout or a 5xx.

        ``retry`` says an earlier attempt with this key may have reached the provider.
        A provider without idempotency keys is asked first whether it already refunded
        for this key (``find_refund``); if it cannot say, nothing is sent (the error
        propagates and the caller tries again later), so it never refunds twice.
        """
        if retry and not self.honours_idempotency_keys:
            earlier = self.find_refund(payment, idempotency_key)
            if earlier is not None:
                return earlier
        return self.refund(payment, amount, idempotency_key)
