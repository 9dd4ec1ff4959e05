"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
    "frame-ancestors 'none'"
)


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """``CSP``, with ``form_targets`` (origins such as ``https://checkout.paymongo.com``) added
    to form-action: a browser applies form-action to the redirect a form post is answered
    with, so the Pay form's 303 to the provider's hosted checkout needs its origin there."""
    if not form_targets:
        return CSP
    return CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(form_targets))


def init_app(app: Flask) -> None:
    """Security headers; ``CHECKOUT_ORIGINS`` (set by ``app.gateway.provider.init_app``)
    are the configured provider's hosted checkout origins."""
    csp = content_security_policy(tuple(app.config.get("CHECKOUT_ORIGINS", ())))

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
