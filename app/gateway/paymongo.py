"""The PayMongo adapter: hosted checkout, refunds and webhooks through PayMongo's REST API.

- Checkout: ``POST /v1/checkout_sessions`` (https://developers.paymongo.com/docs/checkout-implementation,
  https://developers.paymongo.com/reference/checkout-session-resource), expired with
  ``POST /v1/checkout_sessions/{id}/expire`` and read back with ``GET /v1/checkout_sessions/{id}``.
- Refunds: ``POST /v1/refunds`` and ``GET /v1/refunds?payment_id=…``
  (https://developers.paymongo.com/reference/refund-resource). PayMongo documents no
  idempotency key, so every refund carries our key in its ``metadata`` and
  ``find_refund`` looks for it before a refund is sent again (``refund_once``).
- Webhooks: ``Paymongo-Signature`` (``app.gateway.paymongo_signing``), events read by
  ``app.gateway.paymongo_resources``.

Authentication is HTTP Basic with the secret key as user name and no password
(https://developers.paymongo.com/docs/payment-channels-hosted-checkout-quick-start);
the key's prefix (``sk_test_`` / ``sk_live_``) sets the mode, which also picks the
webhook signature to check. Every call goes through ``app.gateway.http``: explicit
timeouts, never inside a database transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from app.gateway import paymongo_resources as read
from app.gateway import paymongo_signing as signing
from app.gateway.fields import PAYMENT_ID_KEY
from app.gateway.http import TIMEOUT, ProviderAPI, origin_of, read_timeout, reject_constant
from app.gateway.money import CENTAVOS, NotAnAmount
from app.payments.errors import MalformedWebhook
from app.payments.provider import (
    CheckoutRequest,
    CheckoutSnapshot,
    HostedCheckout,
    PaymentGateway,
    ProviderEvent,
    ProviderRefused,
    ProviderUnavailable,
    RefundResult,
    SessionState,
)

if TYPE_CHECKING:
    from app.models import Payment

DEFAULT_API_URL = "https://api.paymongo.com"
#: The origin of the checkout_url PayMongo answers a session with.
CHECKOUT_ORIGIN = "https://checkout.paymongo.com"
LINE_ITEM_NAME = "Consultation fee"
#: One of PayMongo's refund reasons (duplicate, fraudulent, requested_by_customer, others).
REFUND_REASON = "requested_by_customer"

#: The patient's choice (our PaymentMethod values) → PayMongo's payment_method_types
#: (https://developers.paymongo.com/docs/checkout-implementation lists the methods).
PAYMENT_METHOD_TYPES: dict[str, tuple[str, ...]] = {
    "stripe": ("card",),
    "gcash": ("gcash",),
    "e_wallet": ("paymaya", "grab_pay", "gcash"),
    "bank_transfer": ("qrph", "dob", "dob_ubp"),
}

_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9]{1,64}$")
_PAYMENT_ID = re.compile(r"^pay_[A-Za-z0-9]{1,64}$")


def mode_of(secret_key: str) -> signing.Mode:
    """``sk_test_…`` → test, ``sk_live_…`` → live.

    :raise ValueError: any other key (a public ``pk_`` key, a typo).
    """
    if secret_key.startswith("sk_test_"):
        return signing.Mode.TEST
    if secret_key.startswith("sk_live_"):
        return signing.Mode.LIVE
    raise ValueError("PAYMONGO_SECRET_KEY must start with sk_test_ or sk_live_.")


class PayMongoGateway(PaymentGateway):
    """PayMongo, spoken over HTTPS with ``httpx``."""

    name = "paymongo"
    honours_idempotency_keys = False

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.mode = mode_of(secret_key)
        if not webhook_secret:
            raise ValueError("PAYMONGO_WEBHOOK_SECRET is empty.")
        self._webhook_secret = webhook_secret
        api_url = api_url.rstrip("/")
        self._api = ProviderAPI("PayMongo", api_url, secret_key, timeout, _error_detail)
        #: Where PayMongo's hosted checkouts live (their checkout_url); a PAYMONGO_API_URL
        #: other than PayMongo's own (a test fake, say) serves them at its own origin.
        self.checkout_origin = CHECKOUT_ORIGIN if api_url == DEFAULT_API_URL else origin_of(api_url)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PayMongoGateway:
        """Built from ``PAYMONGO_SECRET_KEY``, ``PAYMONGO_WEBHOOK_SECRET``, ``PAYMONGO_API_URL``
        and ``PAYMONGO_TIMEOUT_SECONDS`` (seconds to wait for an answer; ``TIMEOUT``'s read
        bound when unset)."""
        read_seconds = config.get("PAYMONGO_TIMEOUT_SECONDS")
        return cls(
            config["PAYMONGO_SECRET_KEY"],
            config["PAYMONGO_WEBHOOK_SECRET"],
            config.get("PAYMONGO_API_URL") or DEFAULT_API_URL,
            timeout=TIMEOUT if not read_seconds else read_timeout(read_seconds),
        )

    # --- hosted checkout ----------------------------------------------------------------

    def checkout_url(self, payment_id: int) -> str:
        raise NotImplementedError(
            "A PayMongo checkout URL comes from start_checkout and is stored on the payment."
        )

    def start_checkout(self, request: CheckoutRequest) -> HostedCheckout:
        """Create a checkout session for ``request``; its ``cs_…`` id and ``checkout_url``.

        Only "Consultation fee" and our reference go to PayMongo: nothing about the
        consultation itself.

        :raise ProviderRefused: a method we cannot offer, an amount that is not whole
            centavos, or PayMongo's 4xx.
        """
        types = PAYMENT_METHOD_TYPES.get(request.method)
        if types is None:
            raise ProviderRefused(f"PayMongo cannot take payment method {request.method!r}.")
        amount = self._centavos(request.amount)
        metadata = {
            PAYMENT_ID_KEY: str(request.payment_id),
            read.REFERENCE_KEY: request.reference,
        }
        attributes = {
            "line_items": [
                {
                    "name": LINE_ITEM_NAME,
                    "description": request.reference,
                    "amount": amount,
                    "currency": request.currency,
                    "quantity": 1,
                }
            ],
            "payment_method_types": list(types),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "reference_number": request.reference,
            "description": f"{LINE_ITEM_NAME} {request.reference}",
            "metadata": metadata,
        }
        body = self._call(
            "POST", "/v1/checkout_sessions", json={"data": {"attributes": attributes}}
        )
        try:
            session_id, found = read.resource(body, "checkout_session")
        except read.Unreadable as error:
            raise ProviderUnavailable(
                f"PayMongo's answer was not a checkout session: {error}"
            ) from None
        url = found.get("checkout_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderUnavailable("PayMongo's checkout session has no checkout_url.")
        return HostedCheckout(session_id, url)

    def expire_checkout(self, session_id: str) -> None:
        """Expire the session; one PayMongo already expired is fine.

        :raise ProviderRefused: PayMongo refuses and the session is not expired (it is paid).
        """
        path = f"/v1/checkout_sessions/{_checked(session_id, _SESSION_ID)}/expire"
        try:
            self._call("POST", path)
        except ProviderRefused:
            if self.lookup(session_id).state is not SessionState.EXPIRED:
                raise

    def lookup(self, session_id: str) -> CheckoutSnapshot:
        """What PayMongo knows about the session: its state and every payment in it."""
        body = self._call("GET", f"/v1/checkout_sessions/{_checked(session_id, _SESSION_ID)}")
        try:
            return read.snapshot(body)
        except read.Unreadable as error:
            raise ProviderUnavailable(
                f"PayMongo's checkout session was unreadable: {error}"
            ) from None

    # --- refunds ------------------------------------------------------------------------

    def refund(self, payment: Payment, amount: Decimal, idempotency_key: str) -> RefundResult:
        """``POST /v1/refunds`` for ``amount`` pesos of the charge ``payment.transaction_id``.

        PayMongo acts on every call: call ``refund_once`` rather than this after an
        attempt that may have reached it.

        :raise ProviderRefused: no PayMongo charge on the payment, PayMongo's 4xx, or a
            refund PayMongo answers as failed.
        """
        charge_id = payment.transaction_id or ""
        if not _PAYMENT_ID.match(charge_id):
            raise ProviderRefused("The payment has no PayMongo charge to refund.")
        metadata = {read.REFUND_KEY: idempotency_key, PAYMENT_ID_KEY: str(payment.id)}
        attributes = {
            "amount": self._centavos(amount),
            "payment_id": charge_id,
            "reason": REFUND_REASON,
            "metadata": metadata,
        }
        body = self._call("POST", "/v1/refunds", json={"data": {"attributes": attributes}})
        data = body.get("data") if isinstance(body, dict) else None
        if read.refund_status(data) == "failed":
            raise ProviderRefused("PayMongo answered the refund as failed.")
        return self._refund_result(data)

    def find_refund(self, payment: Payment, idempotency_key: str) -> RefundResult | None:
        """The payment's refund carrying ``idempotency_key`` in its metadata, if PayMongo has one.

        A failed refund does not count: sending again is then what staff asked for.
        """
        for item in self._refunds_of(payment):
            if read.refund_key(item) == idempotency_key and read.refund_status(item) != "failed":
                return self._refund_result(item)
        return None

    def refund_progress(
        self, payment: Payment, refund_id: str, idempotency_key: str
    ) -> RefundResult:
        """The refund ``refund_id`` as PayMongo lists it now (``GET /v1/refunds?payment_id=``).

        :raise ProviderRefused: PayMongo reports it failed.
        :raise ProviderUnavailable: it is not in the payment's list (yet), or the list is unreadable.
        """
        for item in self._refunds_of(payment):
            if isinstance(item, dict) and item.get("id") == refund_id:
                if read.refund_status(item) == "failed":
                    raise ProviderRefused(f"PayMongo reports refund {refund_id} failed.")
                return self._refund_result(item)
        raise ProviderUnavailable(f"PayMongo does not list refund {refund_id} yet.")

    def _refunds_of(self, payment: Payment) -> list[Any]:
        charge_id = payment.transaction_id or ""
        if not _PAYMENT_ID.match(charge_id):
            return []
        body = self._call("GET", "/v1/refunds", params={"payment_id": charge_id, "limit": 100})
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderUnavailable("PayMongo's refund list was unreadable.")
        return items

    # --- notifications ------------------------------------------------------------------

    def read_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify ``Paymongo-Signature`` for our mode, then read the event.

        :raise BadSignature: see ``paymongo_signing.verify``.
        :raise MalformedWebhook: not JSON, not an event, or an event of the other mode.
        """
        signing.verify(self._webhook_secret, headers.get(signing.HEADER), raw_body, mode=self.mode)
        try:
            payload = json.loads(raw_body, parse_float=str, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            raise MalformedWebhook("The body is not valid JSON.") from None
        if read.event_livemode(payload) is not (self.mode is signing.Mode.LIVE):
            raise MalformedWebhook(f"The event's livemode does not match our {self.mode.name} key.")
        try:
            return read.event(payload)
        except read.Unreadable as error:
            raise MalformedWebhook(f"The event is not one we can read: {error}") from None

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, **options: Any) -> Any:
        """One request (``app.gateway.http``); its JSON answer.

        :raise ProviderUnavailable: also for an unreadable 2xx.
        """
        response = self._api.call(method, path, **options)
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable("PayMongo's answer was not JSON.") from None

    @staticmethod
    def _centavos(amount: Decimal) -> int:
        try:
            return CENTAVOS.encode(amount)
        except NotAnAmount as error:
            raise ProviderRefused(str(error)) from None

    @staticmethod
    def _refund_result(item: Any) -> RefundResult:
        try:
            return read.refund_result(item)
        except read.Unreadable as error:
            raise ProviderUnavailable(f"PayMongo's refund was unreadable: {error}") from None


def _checked(value: str, pattern: re.Pattern[str]) -> str:
    # Ids go into URL paths: anything but PayMongo's id shape is refused, never sent.
    if not isinstance(value, str) or not pattern.match(value):
        raise ProviderRefused(f"{str(value)[:80]!r} is not a PayMongo id.")
    return value


def _error_detail(response: httpx.Response) -> str:
    """PayMongo's ``errors[].detail`` (its error format); empty when it sent none."""
    try:
        errors = response.json().get("errors")
        details = [e.get("detail") for e in errors if isinstance(e, dict)]
        return "; ".join(d for d in details if isinstance(d, str))
    except (ValueError, AttributeError, TypeError):
        return ""
