"""The Xendit adapter: hosted checkout (Payment Sessions), refunds and webhooks over its REST API.

- Checkout: ``POST /sessions`` with ``session_type`` PAY, ``mode`` PAYMENT_LINK, the amount in
  pesos, PHP, PH, our payment reference as ``reference_id`` and the payment page as both
  return URLs (https://docs.xendit.co/apidocs/create-session, https://docs.xendit.co/docs/payment-1)
  → ``payment_session_id`` and ``payment_link_url``; read back with ``GET /sessions/{id}``
  (https://docs.xendit.co/apidocs/get-session) and made unpayable with
  ``POST /sessions/{id}/cancel``, which "cancels an ACTIVE Session"
  (https://docs.xendit.co/apidocs/cancel-session).
- Refunds: ``POST /refunds`` of the session's ``payment_request_id``, our refund key as
  ``reference_id`` and in ``metadata`` (https://docs.xendit.co/apidocs/refund-payment-request),
  with the ``idempotency-key`` header: the reference page lists no header, but Xendit's
  SDKs, generated from its published OpenAPI documents, send ``idempotency-key`` on
  ``createRefund`` (https://github.com/xendit/xendit-php/blob/master/docs/RefundApi.md).
  The same key goes with every attempt of one refund, so Xendit refunds it once.
- Webhooks: a static ``x-callback-token`` header, the account's "callback verification
  token" (https://docs.xendit.co/api-integration/callback/setup); no signature over the
  body and no timestamp. Compared in constant time; bodies read by
  ``app.gateway.xendit_resources``.

Authentication is HTTP Basic with the secret key as user name and no password
(https://docs.xendit.co/payment-api/integration-guide/pre-integration-checklists/). Every call
goes through ``app.gateway.http``: explicit timeouts, never inside a database transaction.

Where Xendit's pages are silent: they do not say whether a session needs ``customer`` (the
create page's examples carry one; we send none, so nothing about the patient reaches
Xendit), nor whether two sessions may share a ``reference_id`` (we reuse our payment
reference; a session that a failed create may have made carries the same one), nor what a
second refund with a used idempotency key answers (we read a 2xx as that refund).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from app.gateway import xendit_resources as read
from app.gateway.fields import PAYMENT_ID_KEY
from app.gateway.http import TIMEOUT, ProviderAPI, origin_of, read_timeout, reject_constant
from app.gateway.money import DECIMAL_PESOS, NotAnAmount
from app.payments.errors import BadSignature, MalformedWebhook
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

DEFAULT_API_URL = "https://api.xendit.co"
#: Where a live and a test ``payment_link_url`` point (the pages' examples: ``https://xen.to/…``
#: and ``https://dev.xen.to/…``); the Pay form's redirect goes there, so the CSP allows them.
CHECKOUT_ORIGINS = ("https://xen.to", "https://dev.xen.to")
CALLBACK_TOKEN_HEADER = "x-callback-token"
IDEMPOTENCY_HEADER = "idempotency-key"
#: One of Xendit's refund reasons (FRAUDULENT, DUPLICATE, REQUESTED_BY_CUSTOMER, CANCELLATION, OTHERS).
REFUND_REASON = "REQUESTED_BY_CUSTOMER"
DESCRIPTION = "Consultation fee"

_SESSION_ID = re.compile(r"^ps-[A-Za-z0-9-]{1,64}$")
_REQUEST_ID = re.compile(r"^pr-[A-Za-z0-9-]{1,64}$")
_REFUND_ID = re.compile(r"^rfd-[A-Za-z0-9-]{1,64}$")
_MAX_TOKEN_LENGTH = 512


class XenditGateway(PaymentGateway):
    """Xendit, spoken over HTTPS with ``httpx``."""

    name = "xendit"
    honours_idempotency_keys = True

    def __init__(
        self,
        secret_key: str,
        callback_token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        if not secret_key:
            raise ValueError("XENDIT_SECRET_KEY is empty.")
        if not callback_token:
            raise ValueError("XENDIT_CALLBACK_TOKEN is empty.")
        self._callback_token = callback_token.encode("utf-8")
        api_url = api_url.rstrip("/")
        self._api = ProviderAPI("Xendit", api_url, secret_key, timeout, _error_detail)
        #: Where the hosted pages live; a XENDIT_API_URL other than Xendit's own (a test
        #: fake) serves them at its own origin.
        own = api_url == DEFAULT_API_URL
        self.checkout_origins = CHECKOUT_ORIGINS if own else (origin_of(api_url),)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> XenditGateway:
        """Built from ``XENDIT_SECRET_KEY``, ``XENDIT_CALLBACK_TOKEN``, ``XENDIT_API_URL`` and
        ``XENDIT_TIMEOUT_SECONDS`` (seconds to wait for an answer)."""
        seconds = config.get("XENDIT_TIMEOUT_SECONDS")
        return cls(
            config["XENDIT_SECRET_KEY"],
            config["XENDIT_CALLBACK_TOKEN"],
            config.get("XENDIT_API_URL") or DEFAULT_API_URL,
            timeout=read_timeout(seconds) if seconds else TIMEOUT,
        )

    # --- hosted checkout ----------------------------------------------------------------

    def checkout_url(self, payment_id: int) -> str:
        raise NotImplementedError(
            "A Xendit payment link comes from start_checkout and is stored on the payment."
        )

    def start_checkout(self, request: CheckoutRequest) -> HostedCheckout:
        """Create a PAY session for ``request``; its ``ps-…`` id and ``payment_link_url``.

        Only "Consultation fee", our reference and our payment id go to Xendit.

        :raise ProviderRefused: not PHP, an amount that is not whole centavos, or Xendit's 4xx.
        """
        if request.currency != "PHP":
            raise ProviderRefused(f"Xendit sessions here are in PHP, not {request.currency!r}.")
        body = {
            "reference_id": request.reference,
            "session_type": "PAY",
            "mode": "PAYMENT_LINK",
            "amount": self._pesos(request.amount),
            "currency": "PHP",
            "country": "PH",
            "description": f"{DESCRIPTION} {request.reference}",
            "success_return_url": request.success_url,
            "cancel_return_url": request.cancel_url,
            "metadata": {PAYMENT_ID_KEY: str(request.payment_id)},
        }
        answer = self._call("POST", "/sessions", json=body)
        try:
            session_id, found = read.session(answer)
        except read.Unreadable as error:
            raise ProviderUnavailable(f"Xendit's answer was not a session: {error}") from None
        url = found.get("payment_link_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderUnavailable("Xendit's session has no payment_link_url.")
        return HostedCheckout(session_id, url)

    def expire_checkout(self, session_id: str) -> None:
        """Cancel the session; one already expired or cancelled is fine.

        :raise ProviderRefused: Xendit refuses and the session is not expired (it is paid).
        """
        path = f"/sessions/{_checked(session_id, _SESSION_ID)}/cancel"
        try:
            self._call("POST", path)
        except ProviderRefused:
            if self.lookup(session_id).state is not SessionState.EXPIRED:
                raise

    def lookup(self, session_id: str) -> CheckoutSnapshot:
        """What Xendit knows about the session: its status and its payment request."""
        answer = self._call("GET", f"/sessions/{_checked(session_id, _SESSION_ID)}")
        try:
            return read.snapshot(answer)
        except read.Unreadable as error:
            raise ProviderUnavailable(f"Xendit's session was unreadable: {error}") from None

    # --- refunds ------------------------------------------------------------------------

    def refund(self, payment: Payment, amount: Decimal, idempotency_key: str) -> RefundResult:
        """``POST /refunds`` for ``amount`` pesos of the payment request ``payment.transaction_id``,
        with ``idempotency_key`` as the ``idempotency-key`` header and as ``reference_id``.

        :raise ProviderRefused: no Xendit payment request on the payment, Xendit's 4xx, or a
            refund Xendit answers as failed.
        """
        request_id = payment.transaction_id or ""
        if not _REQUEST_ID.match(request_id):
            raise ProviderRefused("The payment has no Xendit payment request to refund.")
        body = {
            "payment_request_id": request_id,
            "reference_id": idempotency_key,
            "currency": "PHP",
            "amount": self._pesos(amount),
            "reason": REFUND_REASON,
            "metadata": {
                PAYMENT_ID_KEY: str(payment.id),
                read.REFUND_KEY: idempotency_key,
            },
        }
        answer = self._call(
            "POST", "/refunds", json=body, headers={IDEMPOTENCY_HEADER: idempotency_key}
        )
        return self._refund_answer(answer)

    def refund_progress(
        self, payment: Payment, refund_id: str, idempotency_key: str
    ) -> RefundResult:
        """``GET /refunds/{refund_id}``: where a refund Xendit answered ``PENDING`` stands now
        (getRefund, https://github.com/xendit/xendit-php/blob/master/docs/RefundApi.md).

        :raise ProviderRefused: Xendit reports it failed, or the id is not a refund id.
        :raise ProviderTimeout: :raise ProviderUnavailable: Xendit could not say.
        """
        return self._refund_answer(self._call("GET", f"/refunds/{_checked(refund_id, _REFUND_ID)}"))

    @staticmethod
    def _refund_answer(answer: Any) -> RefundResult:
        if read.refund_status(answer) == "FAILED":
            raise ProviderRefused("Xendit answered the refund as failed.")
        try:
            return read.refund_result(answer)
        except read.Unreadable as error:
            raise ProviderUnavailable(f"Xendit's refund was unreadable: {error}") from None

    # --- notifications ------------------------------------------------------------------

    def read_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Check ``x-callback-token`` (constant time), then read the body.

        :raise BadSignature: the token is missing or is not ours.
        :raise MalformedWebhook: not JSON, or not a body we can read.
        """
        given = headers.get(CALLBACK_TOKEN_HEADER) or ""
        if len(given) > _MAX_TOKEN_LENGTH or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self._callback_token
        ):
            raise BadSignature(f"The {CALLBACK_TOKEN_HEADER} header is missing or wrong.")
        try:
            payload = json.loads(raw_body, parse_float=Decimal, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            raise MalformedWebhook("The body is not valid JSON.") from None
        try:
            return read.event(payload)
        except read.Unreadable as error:
            raise MalformedWebhook(f"The event is not one we can read: {error}") from None

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, **options: Any) -> Any:
        """One request (``app.gateway.http``); its JSON answer, numbers with a point read as
        ``Decimal``. A ``json`` body is written here, so each amount's digits are the codec's.

        :raise ProviderUnavailable: also for an unreadable 2xx.
        """
        if "json" in options:
            options["content"] = json.dumps(options.pop("json")).encode()
            options["headers"] = {**options.get("headers", {}), "Content-Type": "application/json"}
        response = self._api.call(method, path, **options)
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise ProviderUnavailable("Xendit's answer was not JSON.") from None

    @staticmethod
    def _pesos(amount: Decimal) -> int | float:
        try:
            return DECIMAL_PESOS.encode(amount)
        except NotAnAmount as error:
            raise ProviderRefused(str(error)) from None


def _checked(value: str, pattern: re.Pattern[str]) -> str:
    # Ids go into URL paths: anything but Xendit's id shape is refused, never sent.
    if not isinstance(value, str) or not pattern.match(value):
        raise ProviderRefused(f"{str(value)[:80]!r} is not a Xendit id of that kind.")
    return value


def _error_detail(response: httpx.Response) -> str:
    """Xendit's ``error_code: message`` where its error body has them; else empty."""
    try:
        body = response.json()
        return ": ".join(
            v for v in (body.get("error_code"), body.get("message")) if isinstance(v, str)
        )
    except (ValueError, AttributeError):
        return ""
