"""The patient's checkout as smooth as a hosted checkout, on a phone and a desktop.

Each journey ends by asserting exactly one active payment for the consultation, and runs
axe-core on every page the patient sees (no serious or critical violation). Screenshots go
to test-artifacts/screenshots/; with UPDATE_DOCS_SCREENSHOTS=1 those docs/ shows are
copied to docs/screenshots/ (tests/browser/test_screenshots.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from app.payments import lifecycle
from tests.support.axe import assert_accessible
from tests.support.browser import (
    CHECKOUT_URL,
    PAYMENT_URL,
    VIEWPORTS,
    at_the_provider,
    fits_the_viewport,
    log_in,
    open_checkout,
    pay_button,
    payment_count,
    shoot,
    the_one_active_payment,
    the_one_payment,
    wait_until,
)

pytestmark = pytest.mark.browser

UNREACHABLE = "We could not reach the clinic"
SAFE = "It is safe: this form never pays twice."
BAD_GATEWAY = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request):
    return request.param


@pytest.fixture
def page(new_context, live_server, viewport) -> Page:
    """A page at the parametrised size that fails the test on any console error or 4xx/5xx."""
    page = new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport]).new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: page.problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    page.on(
        "response",
        lambda r: page.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return page


@pytest.fixture
def consultation(factory, patient):
    return factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")


def above_the_fold(page: Page, locator) -> None:
    """Entirely inside the first screen, without scrolling."""
    assert page.evaluate("window.scrollY") == 0
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box


def no_problems(page: Page) -> None:
    """No console error and no 4xx/5xx answer (the favicon included) on the way."""
    assert page.problems == [], page.problems


def back_to_the_clinic(page: Page) -> None:
    page.get_by_role("link", name=re.compile("^Return to")).click()
    expect(page).to_have_url(PAYMENT_URL)


# Straight to the provider, and back to a success panel


def test_pay_goes_straight_to_the_provider_and_comes_back_to_payment_successful(
    page, live_app, patient, consultation, viewport
):
    # given the login page and my consultations, whose row offers Pay
    page.goto("/login")
    assert_accessible(page, "login")
    log_in(page, patient)
    assert_accessible(page, "my consultations")
    # the checkout: a way back, and a button that says what happens next
    open_checkout(page, consultation, method="GCash")
    expect(page.get_by_role("link", name="Back to my consultations", exact=True)).to_be_visible()
    expect(pay_button(page)).to_have_text("Continue to payment · ₱1,250.00")
    assert_accessible(page, "checkout")
    # when the patient presses it: straight to the provider, no stop on our payment page
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    assert_accessible(page, "the sandbox provider")
    page.get_by_role("button", name="Approve", exact=True).click()
    # then back on the payment page: one clear panel, above the fold, details once
    expect(page).to_have_url(re.compile(rf"/payments/{payment.id}$"))
    panel = page.get_by_role("region", name="Payment successful")
    expect(panel).not_to_contain_text("₱")  # the amount is the receipt's total, once
    expect(page.locator("#receipt .total")).to_contain_text("₱1,250.00")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Consultation with Dr. Ana Cruz")
    expect(panel).not_to_contain_text("Consultation with")  # the heading says it, once
    expect(panel.locator(".reference")).to_have_text(re.compile(rf"^INV-\d{{14}}-{payment.id}$"))
    expect(panel.get_by_role("button", name="Print receipt")).to_be_visible()
    above_the_fold(page, panel)
    expect(page.get_by_text("Price before VAT")).to_have_count(1)
    expect(page.get_by_text("Official receipt")).to_have_count(1)
    fits_the_viewport(page, VIEWPORTS[viewport]["width"])
    assert_accessible(page, "payment successful")
    shoot(page, f"paid-{viewport}")
    # printed, it is the receipt alone
    page.emulate_media(media="print")
    expect(panel).to_be_hidden()
    expect(page.get_by_role("region", name="Official receipt")).to_be_visible()
    page.emulate_media(media="screen")
    assert the_one_payment(live_app, consultation).status == "completed"
    no_problems(page)


def test_a_second_submit_lands_on_the_payment_with_continue_above_the_fold(
    page, live_app, patient, consultation, viewport
):
    # given the checkout open in two tabs, and the first already gone to the provider
    log_in(page, patient)
    second = page.context.new_page()
    open_checkout(page, consultation, method="GCash")
    open_checkout(second, consultation, method="Bank transfer")
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    # when the second tab pays too
    pay_button(second).click()
    # then it lands on the one payment's page, which says so, and Continue is on the first screen
    expect(second).to_have_url(re.compile(rf"/payments/{payment.id}$"))
    expect(second.get_by_text("You had already started a payment by GCash")).to_be_visible()
    continue_link = second.get_by_role("link", name="Continue to payment")
    above_the_fold(second, continue_link)
    assert_accessible(second, "already has a payment")
    shoot(second, f"payment-pending-{viewport}")
    continue_link.click()
    expect(second).to_have_url(re.compile(rf"/gateway/sandbox/{payment.id}$"))
    the_one_payment(live_app, consultation)
    no_problems(page)


# Live status


def test_the_payment_page_shows_the_providers_answer_without_a_reload(
    page, live_app, patient, consultation, viewport
):
    # given the patient back from the provider before its answer arrived
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    back_to_the_clinic(page)
    expect(page.get_by_text("updates by itself")).to_have_count(0)
    expect(page.get_by_text("Paid already? This page shows it")).to_be_visible()
    expect(page.get_by_role("link", name="Check again")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/status" in r.url else None)
    # when the provider's success arrives
    with live_app.app_context():
        lifecycle.confirm(payment.id, transaction_id=f"txn_live_{payment.id}", actor="gateway:test")
    # then the page shows it by itself, and stops asking
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=10_000)
    assert page.evaluate("window.notReloaded === true")
    expect(page.get_by_role("button", name="Print receipt")).to_be_visible()
    asked = len(polls)
    page.wait_for_timeout(4_000)
    assert len(polls) == asked, "polling went on after the payment was paid"
    assert_accessible(page, "paid, live")
    the_one_payment(live_app, consultation)
    no_problems(page)


# Cancel, then pay another way


def test_cancel_a_pending_payment_then_pay_another_way(
    page, live_app, patient, consultation, viewport
):
    # given a pending payment, picked with the wrong method
    log_in(page, patient)
    open_checkout(page, consultation, method="GCash")
    pay_button(page).click()
    first = at_the_provider(page, live_app, consultation)
    back_to_the_clinic(page)
    assert_accessible(page, "pending payment")
    shoot(page, f"payment-live-{viewport}")
    # when the patient cancels it
    page.get_by_role("button", name="Cancel this payment").click()
    # then the checkout says nothing was charged and offers the form again
    expect(page).to_have_url(CHECKOUT_URL)
    expect(page.get_by_text("Your payment was cancelled and nothing was charged.")).to_be_visible()
    assert_accessible(page, "checkout after cancel")
    shoot(page, f"checkout-after-cancel-{viewport}")
    page.get_by_label("Bank transfer").check()
    pay_button(page).click()
    expect(page).to_have_url(re.compile(r"/gateway/sandbox/\d+$"))
    active = the_one_active_payment(live_app, consultation)
    assert active.id != first.id and active.payment_method == "bank_transfer"
    assert payment_count(live_app, consultation) == 2
    # and the cancelled payment's page says what happened and what to do
    page.goto(f"/payments/{first.id}")
    step = page.get_by_role("region", name="Nothing was charged")
    expect(step).to_contain_text("This payment was cancelled.")
    expect(step.get_by_role("link", name="See your current payment")).to_have_attribute(
        "href", f"/payments/{active.id}"
    )
    expect(page.get_by_role("heading", level=1).locator(".badge")).to_have_text("Payment cancelled")
    assert_accessible(page, "cancelled payment")
    shoot(page, f"money-cancelled-{viewport}")
    no_problems(page)


# A failed request tells the patient what to do


def the_form_says_try_again(page: Page) -> None:
    alert = page.locator("#network-error")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text(UNREACHABLE)
    expect(alert).to_contain_text(SAFE)
    expect(page.locator("#checkout-form")).to_be_visible()
    expect(pay_button(page)).to_be_enabled()
    expect(page.get_by_label("GCash")).to_be_checked()
    expect(page.get_by_text("Bad Gateway")).to_have_count(0)
    expect(page).to_have_url(CHECKOUT_URL)


@pytest.mark.parametrize(
    "failure",
    ["abort-before", "abort-after", "proxy-502-before", "proxy-502-after"],
)
def test_a_failed_pay_request_keeps_the_form_and_pressing_again_pays_once(
    page, live_app, patient, consultation, viewport, failure
):
    # given a network that fails the first Pay: before the clinic got it, or after
    # the clinic made the payment (its answer lost, or replaced by a proxy's 502 page)
    log_in(page, patient)
    open_checkout(page, consultation, method="GCash")
    failed: list[str] = []

    def fail_once(route: Route) -> None:
        if route.request.method != "POST" or failed:
            route.continue_()
            return
        failed.append(failure)
        if failure.endswith("after"):
            route.fetch(
                max_redirects=0
            )  # the clinic got it and answered; the patient never sees it
        if failure.startswith("abort"):
            route.abort("failed")
        else:
            route.fulfill(status=502, content_type="text/html", body=BAD_GATEWAY)

    page.route(CHECKOUT_URL, fail_once)
    # when the patient presses Pay
    pay_button(page).click()
    # then the form stays, the button works again, and an alert says what to do
    the_form_says_try_again(page)
    assert_accessible(page, "the unreachable alert")
    if failure == "proxy-502-after":
        shoot(page, f"checkout-unreachable-{viewport}")
    assert payment_count(live_app, consultation) == (1 if failure.endswith("after") else 0)
    # and pressing again goes to the provider, with the one payment (a replay, or the first)
    pay_button(page).click()
    at_the_provider(page, live_app, consultation)
    assert failed == [failure]


def test_a_timeout_keeps_the_form_and_says_so(page, live_app, patient, consultation, viewport):
    # given a clinic that does not answer within the form's timeout (shortened here)
    log_in(page, patient)
    open_checkout(page, consultation, method="GCash")
    page.evaluate(
        "() => document.getElementById('checkout-form').setAttribute('hx-request', "
        "'{\"timeout\": 300}')"
    )
    held: list[Route] = []
    page.route(
        CHECKOUT_URL, lambda r: held.append(r) if r.request.method == "POST" else r.continue_()
    )
    pay_button(page).click()
    the_form_says_try_again(page)
    wait_until(page, lambda: len(held) == 1, "the POST is held")
    held[0].abort()
    page.unroute(CHECKOUT_URL)
    pay_button(page).click()
    at_the_provider(page, live_app, consultation)


# Small things


def test_pills_focus_links_and_favicon(page, live_app, factory, patient, viewport):
    # given one consultation paid and one pending
    paid = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    pending = factory.consultation(patient, fee="2500", doctor="Dr. Jose Rizal")
    log_in(page, patient)
    for consultation in (paid, pending):
        open_checkout(page, consultation)
        pay_button(page).click()
        payment = at_the_provider(page, live_app, consultation)
    with live_app.app_context():
        first = the_one_payment(live_app, paid)
        lifecycle.confirm(first.id, transaction_id=f"txn_pill_{first.id}", actor="gateway:test")
    page.goto("/")
    # the pills are links that look like links and name the doctor
    pill = page.get_by_role("link", name=re.compile(r"^Payment pending.*Dr\. Jose Rizal"))
    expect(pill).to_have_attribute("href", f"/payments/{payment.id}")
    assert "underline" in pill.evaluate("e => getComputedStyle(e).textDecorationLine")
    expect(page.get_by_role("link", name=re.compile(r"^Paid.*Dr\. Ana Cruz"))).to_be_visible()
    assert_accessible(page, "my consultations with pills")
    shoot(page, f"consultations-{viewport}")
    # body links are the clinic's green, not the browser's blue
    footer_link = page.locator(".site-footer a").first
    assert footer_link.evaluate("e => getComputedStyle(e).color") == "rgb(11, 110, 79)"
    # a green button shows a visible focus ring when reached by keyboard
    pill.click()
    continue_link = page.get_by_role("link", name="Continue to payment")
    continue_link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    # (expect retries: on a loaded machine the stylesheet may still be arriving)
    expect(continue_link).to_have_css("outline-style", "solid")
    expect(continue_link).to_have_css("outline-width", "3px")
    expect(continue_link).to_have_css("outline-color", "rgb(29, 36, 48)")
    assert continue_link.evaluate("e => e.matches(':focus-visible')")
    shoot(page, f"focus-{viewport}")
    # the favicon: no 404 anywhere on the way
    assert page.request.get("/favicon.ico").status == 200
    no_problems(page)
