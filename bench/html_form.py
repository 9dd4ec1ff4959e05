"""The ``hybrid_html`` scenario: payments through the patient's HTML checkout form.

Pluggable on purpose: the form lives at ``/consultations/<id>/checkout`` (Flask-WTF
CSRF token plus a hidden idempotency token). If that page answers 404 the
scenario reports "not available" and the rest of the run goes on.

Preparation is not timed: each patient logs in through ``/login`` and opens its
checkout page; every hidden field of the rendered payment form is kept as is and
``payment_method`` is set to ``gcash``. wrk then posts the prepared forms (one
per consultation, with that patient's session cookie) exactly as a browser
without JavaScript would, so session loading and CSRF validation are measured.
"""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from bench.seed import PASSWORD, email_for

CHECKOUT_PATH = "/consultations/{id}/checkout"
PREPARE_THREADS = 8
OK_STATUSES = (303, 302)


class NotAvailable(Exception):
    """The checkout form is not (yet) served by this app."""


@dataclass
class Form:
    action: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    """Collects every POST form's action and named fields (hidden values kept as rendered)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._current = Form(a.get("action", ""), {})
            self.forms.append(self._current)
            return
        if self._current is None or not a.get("name") or tag not in ("input", "select"):
            return
        kind = a.get("type", "text").lower()
        if kind in ("submit", "button", "image", "reset"):
            return  # a browser sends only the clicked button; nothing here needs it
        fields = self._current.fields
        if kind in ("radio", "checkbox") and "checked" not in a:
            fields.setdefault(a["name"], "")  # known to exist, chosen later
        else:
            fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class _LoopbackPolicy(http.cookiejar.DefaultCookiePolicy):
    """Sends cookies marked Secure over plain HTTP: production marks the session cookie
    Secure, and the bench talks to its own servers on loopback, where TLS would add a cost
    no scenario means to measure."""

    def return_ok_secure(self, cookie, request) -> bool:
        return True


class _Browser:
    """One patient's cookie jar, redirects not followed (we only need the session)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.jar = http.cookiejar.CookieJar(_LoopbackPolicy())
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def login(self, user_id: int) -> None:
        _, page = self.request("/login")
        form = next((f for f in parse_forms(page) if "password" in f.fields), None)
        if form is None:
            raise RuntimeError("the login page has no login form")
        fields = {**form.fields, "email": email_for(user_id), "password": PASSWORD}
        status, _ = self.request("/login", fields)
        if status not in (302, 303):
            raise RuntimeError(f"login as bench patient {user_id} answered {status}")


def prepare_one(base_url: str, consultation_id: int) -> str:
    """Log in as the consultation's patient and render its checkout: one line for form.lua."""
    browser = _Browser(base_url)
    browser.login(consultation_id)
    path = CHECKOUT_PATH.format(id=consultation_id)
    status, page = browser.request(path)
    if status == 404:
        raise NotAvailable(f"GET {path} answered 404: the HTML checkout is not in this build")
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    form = next((f for f in parse_forms(page) if "payment_method" in f.fields), None)
    if form is None:
        raise RuntimeError(f"{path} has no form with a payment_method field")
    fields = {**form.fields, "payment_method": "gcash"}
    action = form.action or path
    return "\t".join([action, browser.cookie_header(), urllib.parse.urlencode(fields)])


def prepare(base_url: str, first: int, count: int, out: Path) -> None:
    """Prepare ``count`` forms for consultations ``first..first+count-1`` into ``out``.

    :raise NotAvailable: the checkout page is not served (404).
    """
    prepare_one_checked = prepare_one(base_url, first)  # fails fast when not available
    ids = range(first + 1, first + count)
    with ThreadPoolExecutor(PREPARE_THREADS) as pool:
        lines = [prepare_one_checked, *pool.map(lambda i: prepare_one(base_url, i), ids)]
    out.write_text("\n".join(lines) + "\n")
