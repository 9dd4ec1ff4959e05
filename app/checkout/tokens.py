"""The checkout form's idempotency token: minted when the page is rendered, signed,
bound to one patient and one consultation.

Every submit of one rendered form (a double click, Back then Pay again, a
retry after an error) carries the same token, so the payment service sees the
same idempotency key and replays the first outcome. A second tab or a reload
mints a new token: that request is new, and the service answers that the
consultation already has a payment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "checkout-form-token/v1"


class CheckoutTokenError(Exception):
    """The form's token cannot be used: tampered with, or minted for another form."""

    expired = False


class CheckoutTokenExpired(CheckoutTokenError):
    """The form was rendered longer ago than CHECKOUT_TOKEN_MAX_AGE."""

    expired = True


@dataclass(frozen=True)
class CheckoutTokens:
    """Mint and verify tokens with one secret; ``max_age`` is in seconds."""

    secret_key: str
    max_age: int

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=SALT)

    def mint(self, user_id: int, consultation_id: int) -> str:
        """A new token for this patient's checkout of this consultation."""
        payload = {"u": user_id, "c": consultation_id, "n": secrets.token_urlsafe(16)}
        return self._serializer().dumps(payload)

    def verify(self, token: str | None, user_id: int, consultation_id: int) -> str:
        """The token's nonce, if it is genuine, fresh, and minted for this user and consultation.

        :raise CheckoutTokenExpired: older than ``max_age``.
        :raise CheckoutTokenError: missing, tampered with, or bound to something else.
        """
        if not token:
            raise CheckoutTokenError("no checkout token")
        try:
            payload = self._serializer().loads(token, max_age=self.max_age)
        except SignatureExpired as exc:
            raise CheckoutTokenExpired("checkout token expired") from exc
        except BadSignature as exc:
            raise CheckoutTokenError("checkout token signature is invalid") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
            raise CheckoutTokenError("checkout token has the wrong shape")
        if payload.get("u") != user_id or payload.get("c") != consultation_id:
            raise CheckoutTokenError("checkout token was minted for another form")
        return payload["n"]


def current_tokens() -> CheckoutTokens:
    """The token maker configured for the running app."""
    config = current_app.config
    return CheckoutTokens(config["SECRET_KEY"], config["CHECKOUT_TOKEN_MAX_AGE"])


def idempotency_key(nonce: str, payment_method: str) -> str:
    """The key the payment service sees for one submit of one rendered form.

    Why the method is part of it: the service fingerprints the method, so a
    patient who goes Back and picks another method would otherwise reuse the
    key for a different request and be refused (422). As a distinct key, that
    submit lands on the payment that already exists, like a second tab.
    """
    return f"checkout:{nonce}:{payment_method}"
