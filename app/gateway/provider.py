"""Which payment provider the app talks to (configuration picks it; only the sandbox exists).

The port it returns is ``app.payments.provider.PaymentGateway``; the adapters implement it.
Only the edges (routes, the CLI) ask for the configured one: the payments core receives a
gateway as an argument, so it never imports this module.
"""

from __future__ import annotations

from flask import current_app

from app.gateway.sandbox import SandboxGateway
from app.payments.provider import PaymentGateway


def current_gateway() -> PaymentGateway:
    """The configured provider. Only the sandbox exists so far."""
    return SandboxGateway(current_app.config["GATEWAY_WEBHOOK_SECRET"])
