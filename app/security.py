"""The headers a payment site sends, and cross-site protection for the forms a visitor
fills in before having a session.

Every response: a Content-Security-Policy allowing only the app's own scripts and styles,
``nosniff``, a strict referrer policy, no framing, ``Permissions-Policy`` turning off the
browser features no page uses, ``Cross-Origin-Opener-Policy: same-origin`` (no other site's
window keeps a handle on ours), and, when ``HSTS_MAX_AGE`` > 0, ``Strict-Transport-Security``.

API answers carry a bearer token's data: never stored by a cache, and varying on
``Authorization``, never on ``Cookie`` (the API reads no cookie). Static files do not depend
on the session either (``app/assets.py``): their answers do not vary on ``Cookie``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request
from flask.sessions import SecureCookieSessionInterface

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
    "frame-ancestors 'none'"
)
# Powerful features no page of the checkout uses, off for the page and anything it embeds
# (W3C Permissions Policy; feature names from Chromium's list, so none is "unrecognized").
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
# Blueprints and endpoints whose answers never depend on the session cookie.
COOKIELESS_BLUEPRINTS = frozenset({"api"})
COOKIELESS_ENDPOINTS = frozenset({"static", "favicon"})


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
    app.session_interface = CookielessWhereUnused()
    hsts_max_age = app.config["HSTS_MAX_AGE"]

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if hsts_max_age:
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={hsts_max_age}; includeSubDomains"
            )
        if request.blueprint in COOKIELESS_BLUEPRINTS:
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Authorization")
        return response


class CookielessWhereUnused(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus ``Vary: Cookie`` on answers that ignore it.

    Flask adds ``Vary: Cookie`` whenever anything touched the session during the request, and
    Flask-Login touches it after every request (its remember-cookie check), so without this
    a static file or an API answer would vary on a cookie it never reads.
    """

    def save_session(self, app: Flask, session, response: Response) -> None:
        super().save_session(app, session, response)
        if request.blueprint in COOKIELESS_BLUEPRINTS or request.endpoint in COOKIELESS_ENDPOINTS:
            # Rebuilt rather than HeaderSet.discard, which leaves the mixed-case name behind.
            kept = [name for name in response.vary if name.lower() != "cookie"]
            if kept:
                response.headers["Vary"] = ", ".join(kept)
            else:
                response.headers.pop("Vary", None)


def same_origin_only(view: Callable) -> Callable:
    """Refuse (403) a POST to ``view`` that a browser sent from another site.

    For the forms a visitor submits before having a session (logging in, choosing a
    language): a session-bound CSRF token would need a session cookie on every anonymous
    page. Browsers say where a request comes from instead: ``Sec-Fetch-Site`` (W3C Fetch
    Metadata, every current browser) and, before it, ``Origin`` (RFC 6454, sent with every
    cross-site POST). A request with neither is not a browser's, so no visitor is being
    tricked into sending it. OWASP's CSRF Prevention Cheat Sheet lists both checks.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method == "POST" and not _from_this_site():
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _from_this_site() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # "none": typed or bookmarked by the user; "same-origin": one of our own pages.
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc) == (request.scheme, request.host)
