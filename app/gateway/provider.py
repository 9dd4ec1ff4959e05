"""Which payment provider the app talks to (configuration picks it; only the sandbox exists).

Kept apart from ``base`` (the interface) and the adapters, so the modules form a
line rather than a cycle: base <- webhooks <- sandbox <- provider <- routes.
"""

from __future__ import annotations

from flask import current_app

from app.gateway.base import PaymentGateway
from app.gateway.sandbox import SandboxGateway


def current_gateway() -> PaymentGateway:
    """The configured provider. Only the sandbox exists so far."""
    return SandboxGateway(current_app.config["GATEWAY_WEBHOOK_SECRET"])
