"""However fast or often Pay is pressed in Chromium: one POST leaves the page, one payment.

Pay goes straight to the provider's page (issue 13), so each journey ends there, on the
consultation's one payment.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.support.browser import CHECKOUT_URL, at_the_provider, log_in, open_checkout, pay_button

pytestmark = pytest.mark.browser


def is_checkout_post(request: Request) -> bool:
    return request.method == "POST" and bool(CHECKOUT_URL.search(request.url))


class CheckoutPosts:
    """Counts the checkout POSTs the page sends; can hold them back until released."""

    def __init__(self, page: Page, *, hold: bool = False) -> None:
        self.sent: list[Request] = []
        self.held: list[Route] = []
        self.hold = hold
        page.route(CHECKOUT_URL, self._route)

    def _route(self, route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        self.sent.append(route.request)
        if self.hold:
            self.held.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        for route in self.held:
            route.continue_()
        self.held.clear()


@pytest.fixture
def checkout(page: Page, patient, consultation) -> Page:
    log_in(page, patient)
    open_checkout(page, consultation)
    return page


def request_submit_twice(page: Page) -> None:
    page.evaluate(
        "() => { const form = document.getElementById('checkout-form');"
        " form.requestSubmit(); form.requestSubmit(); }"
    )


def lands_on_the_payment_page(page: Page, live_app, consultation) -> None:
    """At the provider's page for the one payment; it names the invoice number to quote."""
    payment = at_the_provider(page, live_app, consultation)
    expect(page.get_by_text(re.compile(rf"Invoice INV-\d{{14}}-{payment.id}$"))).to_be_visible()
    expect(page.get_by_text("already has a payment")).to_have_count(0)


def test_a_triple_click_on_pay_makes_one_payment(checkout, live_app, consultation):
    posts = CheckoutPosts(checkout)
    pay_button(checkout).click(click_count=3)
    lands_on_the_payment_page(checkout, live_app, consultation)
    assert len(posts.sent) == 1


def test_a_double_click_on_pay_makes_one_payment(checkout, live_app, consultation):
    posts = CheckoutPosts(checkout)
    pay_button(checkout).dblclick()
    lands_on_the_payment_page(checkout, live_app, consultation)
    assert len(posts.sent) == 1


def test_forced_clicks_while_the_request_is_in_flight_send_nothing_more(
    checkout, live_app, consultation
):
    # given a first click whose POST is held back
    posts = CheckoutPosts(checkout, hold=True)
    with checkout.expect_request(is_checkout_post):
        pay_button(checkout).click()
    expect(pay_button(checkout)).to_be_disabled()
    # when the button is clicked again, forcing past Playwright's own disabled check
    for _ in range(5):
        pay_button(checkout).click(force=True)
    pay_button(checkout).dispatch_event("click")
    # then nothing more was sent, and releasing the first lands on its payment
    assert len(posts.sent) == 1
    posts.release()
    lands_on_the_payment_page(checkout, live_app, consultation)
    assert len(posts.sent) == 1


def test_two_request_submits_from_page_script_send_one_post(checkout, live_app, consultation):
    posts = CheckoutPosts(checkout)
    request_submit_twice(checkout)
    lands_on_the_payment_page(checkout, live_app, consultation)
    assert len(posts.sent) == 1


def test_enter_pressed_repeatedly_in_the_form_sends_one_post(checkout, live_app, consultation):
    posts = CheckoutPosts(checkout)
    checkout.get_by_label("GCash").focus()
    for _ in range(6):
        checkout.keyboard.press("Enter")
    lands_on_the_payment_page(checkout, live_app, consultation)
    assert len(posts.sent) == 1


def test_while_the_post_is_held_back_the_form_is_disabled_busy_and_says_processing(
    checkout, live_app, consultation
):
    # given a Pay click whose POST the network holds back
    posts = CheckoutPosts(checkout, hold=True)
    form = checkout.locator("#checkout-form")
    expect(checkout.get_by_text("Taking you to the payment provider...")).to_be_hidden()
    with checkout.expect_request(is_checkout_post):
        pay_button(checkout).click()
    # then, while it is in flight, the button and methods are disabled and the form is busy
    expect(pay_button(checkout)).to_be_disabled()
    for method in ("Credit or debit card", "GCash", "Bank transfer", "Maya or another e-wallet"):
        expect(checkout.get_by_label(method)).to_be_disabled()
    expect(form).to_have_attribute("aria-busy", "true")
    expect(checkout.get_by_role("status")).to_have_text("Taking you to the payment provider...")
    expect(checkout.get_by_text("Taking you to the payment provider...")).to_be_visible()
    # when everything else is tried too
    pay_button(checkout).click(force=True)
    request_submit_twice(checkout)
    checkout.keyboard.press("Enter")
    # then only one POST reached the network, and so the server
    assert len(posts.sent) == 1
    posts.release()
    lands_on_the_payment_page(checkout, live_app, consultation)
    assert len(posts.sent) == 1
