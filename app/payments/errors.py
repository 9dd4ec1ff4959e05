"""Domain errors. Each interface maps them to HTTP in one place (api/problems.py, checkout)."""

from __future__ import annotations

from typing import Any


class PaymentError(Exception):
    """A refusal the caller can understand; nothing was written."""

    status = 400
    slug = "payment-error"
    title = "Payment request refused"
    retry_after: int | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body = {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidPaymentRequest(PaymentError):
    status = 422
    slug = "invalid-request"
    title = "The payment request is not valid"

    def __init__(self, detail: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(detail, errors=errors or {})
        self.errors = errors or {}


class ConsultationNotFound(PaymentError):
    status = 404
    slug = "not-found"
    title = "Consultation not found"


class NotYourConsultation(PaymentError):
    status = 403
    slug = "forbidden"
    title = "Not your consultation"


class PaymentNotFound(PaymentError):
    status = 404
    slug = "not-found"
    title = "Payment not found"


class Forbidden(PaymentError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class KeyReuseMismatch(PaymentError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused for a different request"


class PaymentInProgress(PaymentError):
    status = 409
    slug = "payment-in-progress"
    title = "A request with this idempotency key is still being processed"
    retry_after = 1


class PaymentsBusy(PaymentError):
    status = 503
    slug = "busy"
    title = "Payments are busy"
    retry_after = 2


class ConsultationRefunded(PaymentError):
    """The consultation's payment was refunded: it is closed for payment.

    The refund and a new payment both lock the consultation first, so they cannot race.
    """

    status = 409
    slug = "consultation-refunded"
    title = "This consultation was refunded"


class InvalidTransition(PaymentError):
    status = 409
    slug = "invalid-transition"
    title = "The payment cannot change that way"


class StaleVersion(PaymentError):
    status = 409
    slug = "stale-version"
    title = "The payment changed since you read it"


class DuplicateCharge(PaymentError):
    """The provider reports a second successful charge for one consultation.

    The payment itself does not change; a ``duplicate_charge`` event tells staff
    to refund the extra charge at the provider.
    """

    status = 409
    slug = "duplicate-charge"
    title = "The provider charged this payment twice"


class AmountMismatch(PaymentError):
    """The provider reports a charge whose amount or currency is not the payment's.

    Nothing is applied; an ``amount_mismatch`` event tells staff to check it.
    """

    status = 409
    slug = "amount-mismatch"
    title = "The provider reported a different amount"


class TransactionIdInUse(PaymentError):
    status = 409
    slug = "transaction-id-in-use"
    title = "That transaction id already confirmed another payment"


class WebhookRejected(PaymentError):
    """A notification we cannot trust or read; nothing was written."""

    status = 400
    slug = "webhook-rejected"
    title = "Webhook rejected"


class MalformedWebhook(WebhookRejected):
    status = 400
    slug = "malformed-webhook"
    title = "The notification is not a valid event"


class BadSignature(WebhookRejected):
    status = 401
    slug = "bad-signature"
    title = "The notification's signature is missing, wrong or too old"
