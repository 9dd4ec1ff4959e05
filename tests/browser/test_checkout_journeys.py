"""Repeats a patient really makes (no JavaScript, two tabs, Back, reload); others' pages.

Pay goes straight to the provider's page (issue 13); a repeat lands there on the same
payment, or on the payment's own page with "already has a payment".
"""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import Error, Route, expect

from tests.support.api import ApiClient
from tests.support.browser import (
    CHECKOUT_URL,
    PAYMENT_URL,
    PROVIDER_URL,
    at_the_provider,
    checkout_path,
    log_in,
    open_checkout,
    pay_button,
    the_one_payment,
    wait_until,
)

pytestmark = pytest.mark.browser

# A second submit's notice, and the checkout of a consultation with a payment under way.
ALREADY = "You had already started"
STARTED = "You started a payment by GCash"


def payment_path(payment) -> str:
    return f"/payments/{payment.id}"


def provider_path(payment) -> str:
    return f"/gateway/sandbox/{payment.id}"


def test_without_javascript_a_double_submit_makes_one_payment(
    new_context, live_server, live_app, patient, consultation
):
    # given a browser with JavaScript off, and a slow first POST
    page = new_context(base_url=live_server.url, java_script_enabled=False).new_page()
    log_in(page, patient)
    open_checkout(page, consultation)
    held: list[Route] = []
    page.route(
        CHECKOUT_URL,
        lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
    )
    # when Pay is pressed again before the first answer came back (with the raw mouse:
    # locator clicks would wait for the navigation this test holds back)
    pay_button(page).scroll_into_view_if_needed()  # the raw mouse clicks inside the viewport
    box = pay_button(page).bounding_box()
    for _ in range(2):
        with page.expect_request(lambda r: r.method == "POST"):
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # then the server gets both POSTs (the browser gave up waiting for the first)...
    wait_until(page, lambda: len(held) == 2, "both POSTs reach the route")
    answers = []
    for route in held:
        answer = route.fetch(max_redirects=0)
        answers.append((answer.status, answer.headers["location"]))
        with contextlib.suppress(Error):  # the browser may have abandoned the first already
            route.fulfill(response=answer)
    # ...both answer 303 to the same payment at the provider, and the browser lands there
    payment = the_one_payment(live_app, consultation)
    assert answers == [(303, provider_path(payment))] * 2
    expect(page).to_have_url(re.compile(provider_path(payment) + "$"))
    expect(page.get_by_text(ALREADY)).to_have_count(0)


def test_without_javascript_a_reload_of_the_payment_page_repeats_nothing(
    new_context, live_server, live_app, patient, consultation
):
    page = new_context(base_url=live_server.url, java_script_enabled=False).new_page()
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    page.get_by_role("link", name=re.compile("^Return to")).click()
    expect(page).to_have_url(PAYMENT_URL)
    # without JavaScript the page cannot update itself: a plain link asks again
    expect(page.get_by_role("link", name="Check again")).to_have_attribute(
        "href", payment_path(payment)
    )
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.reload()
    page.reload()
    expect(page).to_have_url(PAYMENT_URL)
    assert posts == []  # Post/Redirect/Get: a reload is a GET
    the_one_payment(live_app, consultation)


def test_two_tabs_land_on_the_same_payment_and_the_second_says_so(
    context, live_app, patient, consultation
):
    # given the checkout open in two tabs
    first, second = context.new_page(), context.new_page()
    log_in(first, patient)
    open_checkout(first, consultation, method="GCash")
    open_checkout(second, consultation, method="Bank transfer")
    # when both pay
    pay_button(first).click()
    payment = at_the_provider(first, live_app, consultation)
    pay_button(second).click()
    # then the second shows the one payment, says why, and offers to continue to the provider
    expect(second).to_have_url(re.compile(payment_path(payment) + "$"))
    # naming the method it chose, which was not used (never replaced silently)
    expect(second.get_by_text(ALREADY)).to_contain_text("Bank transfer was not used")
    expect(second.get_by_role("link", name="Continue to payment")).to_be_visible()
    expect(first.get_by_text(ALREADY)).to_have_count(0)
    payment = the_one_payment(live_app, consultation)
    assert payment.payment_method == "gcash"


def test_back_after_paying_shows_the_payment_instead_of_the_form(
    page, live_app, patient, consultation
):
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    page.go_back()
    # Cache-Control: no-store, so Back asks the server again, which knows
    expect(page).to_have_url(re.compile(checkout_path(consultation) + "$"))
    expect(page.get_by_role("heading", name=STARTED)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Continue to payment"))).to_have_count(0)
    expect(page.get_by_role("link", name="Continue to payment")).to_have_attribute(
        "href", f"/payments/{payment.id}/continue"
    )
    page.get_by_role("link", name="See or cancel this payment").click()
    expect(page).to_have_url(re.compile(payment_path(payment) + "$"))
    the_one_payment(live_app, consultation)


def test_back_to_a_page_kept_by_the_browser_and_pay_again_lands_on_the_same_payment(
    page, live_app, patient, consultation
):
    # given a browser that keeps the first checkout page and shows it on Back
    # (some do, whatever Cache-Control says), as this route does
    log_in(page, patient)
    kept: dict[str, object] = {}

    def keep_first_render(route: Route) -> None:
        if route.request.method != "GET":
            route.continue_()
        elif "page" in kept:
            route.fulfill(response=kept["page"], body=kept["body"])
        else:
            kept["page"] = route.fetch()
            kept["body"] = kept["page"].text()
            route.fulfill(response=kept["page"], body=kept["body"])

    page.route(CHECKOUT_URL, keep_first_render)
    open_checkout(page, consultation)
    token = page.locator("input[name=checkout_token]").input_value()
    pay_button(page).click()
    expect(page).to_have_url(PROVIDER_URL)
    paid_at = page.url
    # when the patient goes Back to that page and pays again with the same form
    page.go_back()
    expect(page.locator("input[name=checkout_token]")).to_have_value(token)
    page.get_by_label("GCash").check()
    pay_button(page).click()
    # then it is the same request: the same payment, without a notice
    expect(page).to_have_url(paid_at)
    expect(page.get_by_text(ALREADY)).to_have_count(0)
    the_one_payment(live_app, consultation)


def test_a_reload_of_the_payment_page_shows_the_same_payment(page, live_app, patient, consultation):
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    page.goto(payment_path(payment))
    paid_at = page.url
    for _ in range(3):
        page.reload()
        expect(page.get_by_text("Payment pending").first).to_be_visible()
    assert page.url == paid_at
    the_one_payment(live_app, consultation)


def test_an_expired_page_says_so_inside_the_page_and_the_next_press_pays(
    page, live_app, patient, consultation
):
    # given a checkout whose CSRF token is no longer valid
    log_in(page, patient)
    open_checkout(page, consultation)
    page.evaluate(
        "() => document.querySelector('#checkout-form [name=csrf_token]').value = 'stale'"
    )
    # when the patient presses Pay
    pay_button(page).click()
    # then the form itself explains, offers a reload, and nothing is paid
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("This page has expired")
    expect(alert.get_by_role("link", name="Reload the page")).to_be_visible()
    expect(page).to_have_url(re.compile(checkout_path(consultation) + "$"))
    # and pressing Pay on the form that came back pays
    page.get_by_label("GCash").check()
    pay_button(page).click()
    at_the_provider(page, live_app, consultation)


def test_another_patients_checkout_and_payment_pages_are_not_found(
    page, live_server, live_app, factory, patient, consultation
):
    # given a payment of this patient's, made through the API
    payment_id = ApiClient(live_app).new_payment(patient, consultation, method="stripe")
    # when another patient opens its pages
    log_in(page, factory.patient())
    checkout = page.goto(checkout_path(consultation))
    payment = page.goto(f"/payments/{payment_id}")
    # then neither exists for them
    assert checkout.status == payment.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    the_one_payment(live_app, consultation)
