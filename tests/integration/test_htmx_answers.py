"""Every request htmx makes gets an answer htmx can use: never a whole page inside a fragment.

Logged out (another tab, an expired session), htmx used to follow a plain 302 inside its
XHR and swap the login page, site header and all, into the results table. Now (app/htmx.py,
app/http_errors.py): a login is asked for with ``HX-Redirect`` (a whole-page navigation, with
``next=`` the page the person was on), and a refusal (403, an expired CSRF token) is a small
message htmx swaps in place.

The routes htmx calls are found in the templates' ``hx-get``/``hx-post``/... attributes; a
template that starts calling a new route fails ``test_every_htmx_route_is_walked`` until the
route is added to ``HTMX_ROUTES``. Every other page route is swept too, anonymously.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from app.config import ROOT
from tests.support.factory import PASSWORD
from tests.support.invoices import add_invoice

HX = {"HX-Request": "true"}
CURRENT = "http://localhost/staff/invoices?status=paid"
# (method, endpoint) -> the URL to call, with {consultation} / {number} from the world.
HTMX_ROUTES = {
    ("GET", "invoices.list_invoices"): "/staff/invoices?status=paid&patient=",
    ("POST", "checkout.pay"): "/consultations/{consultation}/checkout",
    ("GET", "checkout.payment_status"): "/payments/{payment}/status?v=0",
    # the "being prepared" page's poll, while another press creates the hosted checkout
    ("GET", "checkout.continue_payment"): "/payments/{payment}/continue",
}
# Who may not use each route, logged in, and what they get: the wrong role is refused (403);
# another patient's payment answers like a missing one (404, no existence leak).
WRONG_ROLE = {
    "invoices.list_invoices": ("patient", 403),
    "checkout.pay": ("staff", 403),
    "checkout.payment_status": ("other_patient", 404),
    "checkout.continue_payment": ("other_patient", 404),
}
_HX_ATTRIBUTE = re.compile(r"hx-(get|post|put|patch|delete)=\"([^\"]+)\"")
_URL_FOR = re.compile(r"url_for\('([\w.]+)'")


def htmx_calls_in_templates() -> set[tuple[str, str]]:
    """(method, endpoint) for every hx-<verb> attribute in templates/.

    The attribute holds ``url_for('endpoint', ...)`` or a variable set from one in the
    same template (``{% set href = url_for(...) %}``), so both are followed.
    """
    found = set()
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for verb, value in _HX_ATTRIBUTE.findall(text):
            endpoints = _URL_FOR.findall(value)
            if not endpoints:
                variable = value.strip("{} ")
                setters = re.findall(rf"set {re.escape(variable)} = url_for\('([\w.]+)'", text)
                endpoints = setters
            assert endpoints, f"{template.name}: cannot tell what hx-{verb}={value!r} calls"
            found.update((verb.upper(), endpoint) for endpoint in endpoints)
    return found


def test_every_htmx_route_is_walked():
    assert htmx_calls_in_templates() == set(HTMX_ROUTES)


@pytest.fixture
def world(api, app, factory):
    patient, staff = factory.patient(), factory.staff()
    consultation = factory.consultation(patient)
    number = add_invoice(app, patient, status="paid")
    payment = api.new_payment(patient, factory.consultation(patient).id)
    return {
        "patient": patient,
        "other_patient": factory.patient(),
        "staff": staff,
        "consultation": consultation.id,
        "number": number,
        "payment": payment,
    }


def client_for(app, user=None):
    client = app.test_client()
    if user is not None:
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
    return client


def call(client, method: str, url: str, **headers):
    return client.open(
        url, method=method, headers={**HX, "HX-Current-URL": CURRENT, **headers}, data={}
    )


def assert_not_a_page(response) -> None:
    """What htmx swaps must be a fragment: no document, no second site header."""
    body = response.get_data(as_text=True)
    assert "<html" not in body.lower() and "site-header" not in body, body[:300]


def assert_whole_page_login(response) -> None:
    """htmx navigates the whole page to the login, coming back to the page the person was on."""
    assert response.status_code == 401, response.status_code
    target = urlsplit(response.headers["HX-Redirect"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == ["/staff/invoices?status=paid"]
    assert "Location" not in response.headers
    assert_not_a_page(response)


@pytest.mark.parametrize(("method", "endpoint"), sorted(HTMX_ROUTES))
def test_logged_out_an_htmx_request_navigates_the_whole_page_to_the_login(
    app, world, method, endpoint
):
    url = HTMX_ROUTES[(method, endpoint)].format(**world)
    assert_whole_page_login(call(client_for(app), method, url))


@pytest.mark.parametrize(("method", "endpoint"), sorted(HTMX_ROUTES))
def test_as_the_wrong_role_an_htmx_request_gets_a_message_in_place(app, world, method, endpoint):
    url = HTMX_ROUTES[(method, endpoint)].format(**world)
    who, status = WRONG_ROLE[endpoint]
    response = call(client_for(app, world[who]), method, url)
    assert response.status_code == status
    assert "HX-Redirect" not in response.headers
    assert_not_a_page(response)
    if status == 403:
        assert re.search(r"not allowed|cannot", response.text), response.text


@pytest.mark.parametrize(("method", "endpoint"), sorted(HTMX_ROUTES))
def test_without_htmx_the_same_requests_still_get_pages_and_redirects(app, world, method, endpoint):
    url = HTMX_ROUTES[(method, endpoint)].format(**world)
    response = client_for(app).open(url, method=method, data={}, headers={"Referer": CURRENT})
    assert response.status_code == 302
    # next: the page itself for a GET; for a POST, the page the form was on
    page = url if method == "GET" else "/staff/invoices?status=paid"
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == [page]


def test_an_expired_csrf_token_on_an_htmx_post_is_a_message_in_place_or_a_login(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=True)
    url = f"/staff/invoices/{world['number']}/refund/confirm"
    # logged in through the login form (it carries no token: a visitor has no session),
    # then a form whose token is missing
    staff = app.test_client()
    login = {"email": world["staff"].email, "password": PASSWORD}
    assert staff.post("/login", data=login).status_code == 302
    response = call(staff, "POST", url)
    assert response.status_code == 400
    assert_not_a_page(response)
    assert "expired" in response.text
    # logged out: the whole page goes to the login
    assert_whole_page_login(call(app.test_client(), "POST", url))


def test_any_error_page_asked_for_by_htmx_is_a_fragment(app, world):
    client = client_for(app, world["staff"])
    missing = call(client, "GET", "/staff/invoices/INV-00000000000000-999999")
    assert missing.status_code == 404
    assert_not_a_page(missing)
    assert 'role="alert"' in missing.text and "Reload the page" in missing.text
    # and the same page without htmx is a whole page, with a way on for staff
    page = client.get("/staff/invoices/INV-00000000000000-999999")
    assert "<html" in page.text and "Back to the invoices" in page.text


def page_routes(app) -> list[tuple[str, str]]:
    """(method, rule) of every HTML route (not the JSON API, webhooks or static files)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith(("/api/", "/webhooks/")):
            continue
        found += [(m, rule.rule) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def test_no_page_route_answers_htmx_with_a_redirect_it_would_follow_inside_the_xhr(app, world):
    # given every page route, its arguments filled in, asked by htmx while logged out
    values = {"<int:consultation_id>": str(world["consultation"]), "<number>": world["number"]}
    checked = 0
    for method, rule in page_routes(app):
        url = re.sub(r"<[^>]+>", lambda m: values.get(m.group(0), "1"), rule)
        response = call(client_for(app), method, url)
        # then none is a 3xx (followed inside the XHR); a login is asked for by HX-Redirect
        assert not 300 <= response.status_code < 400, (method, rule, response.status_code)
        if response.status_code == 401:
            assert_whole_page_login(response)
            checked += 1
    assert checked >= 8, checked  # the login-only routes were really reached
