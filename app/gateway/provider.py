"""Which payment provider the app talks to: ``PAYMENT_PROVIDER`` picks it.

``sandbox`` (the default) is the provider inside the app; ``paymongo`` is PayMongo,
built from ``PAYMONGO_SECRET_KEY``, ``PAYMONGO_WEBHOOK_SECRET`` and ``PAYMONGO_API_URL``;
``xendit`` is Xendit, built from ``XENDIT_SECRET_KEY``, ``XENDIT_CALLBACK_TOKEN`` and
``XENDIT_API_URL``.
The port it returns is ``app.payments.provider.PaymentGateway``; the adapters implement it.
Only the edges (routes, the CLI) ask for the configured one: the payments core receives a
gateway as an argument, so it never imports this module.
"""

from __future__ import annotations

from flask import Flask, current_app

from app.config import PAYMENT_PROVIDERS, ConfigError
from app.gateway.paymongo import PayMongoGateway
from app.gateway.sandbox import SandboxGateway
from app.gateway.xendit import XenditGateway
from app.payments.provider import PaymentGateway


def init_app(app: Flask) -> None:
    """Check the provider settings once, when the app is created.

    :raise ConfigError: ``PAYMENT_PROVIDER`` is not one of ``PAYMENT_PROVIDERS``, or it is
        ``paymongo`` and a PayMongo setting is missing or invalid (a public or mistyped
        key, an empty webhook secret, an API URL that is not http(s)); likewise for ``xendit``.
    """
    name = app.config["PAYMENT_PROVIDER"]
    if name not in PAYMENT_PROVIDERS:
        raise ConfigError(
            f"PAYMENT_PROVIDER must be one of {', '.join(PAYMENT_PROVIDERS)}; got {name!r}"
        )
    if name == "paymongo":
        # Where the Pay form's answer sends the browser (the page's CSP must allow it).
        app.config["CHECKOUT_ORIGINS"] = (_paymongo(app.config).checkout_origin,)
    if name == "xendit":
        app.config["CHECKOUT_ORIGINS"] = _xendit(app.config).checkout_origins


def current_gateway() -> PaymentGateway:
    """The provider ``PAYMENT_PROVIDER`` names (checked at start by ``init_app``)."""
    config = current_app.config
    if config["PAYMENT_PROVIDER"] == "paymongo":
        return _paymongo(config)
    if config["PAYMENT_PROVIDER"] == "xendit":
        return _xendit(config)
    return SandboxGateway(config["GATEWAY_WEBHOOK_SECRET"])


def _paymongo(config) -> PayMongoGateway:
    if not config.get("PAYMONGO_SECRET_KEY"):
        raise ConfigError(
            "PAYMENT_PROVIDER=paymongo needs PAYMONGO_SECRET_KEY (sk_test_… or sk_live_…)."
        )
    if not config.get("PAYMONGO_WEBHOOK_SECRET"):
        raise ConfigError(
            "PAYMENT_PROVIDER=paymongo needs PAYMONGO_WEBHOOK_SECRET "
            "(shown by PayMongo when the webhook is created)."
        )
    url = config.get("PAYMONGO_API_URL") or ""
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"PAYMONGO_API_URL must be an http(s) URL; got {url!r}")
    try:
        return PayMongoGateway.from_config(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _xendit(config) -> XenditGateway:
    if not config.get("XENDIT_SECRET_KEY"):
        raise ConfigError(
            "PAYMENT_PROVIDER=xendit needs XENDIT_SECRET_KEY (a secret API key from Xendit's "
            "dashboard)."
        )
    if not config.get("XENDIT_CALLBACK_TOKEN"):
        raise ConfigError(
            "PAYMENT_PROVIDER=xendit needs XENDIT_CALLBACK_TOKEN (the callback verification "
            "token in Xendit's webhook settings)."
        )
    url = config.get("XENDIT_API_URL") or ""
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"XENDIT_API_URL must be an http(s) URL; got {url!r}")
    return XenditGateway.from_config(config)
