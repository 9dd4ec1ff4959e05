"""Every state a patient can find a payment in, in English, Indonesian and Filipino.

For each state (the checkout, the checkout after a cancel, the checkout with a payment
already started, pending, paid, declined, cancelled, expired, refunded, and charged after
a cancel) and each language, the page is read as a patient reads it:

- its own words, one sentence per fact: "nothing was charged" at most once, the amount
  once (AMOUNT_TIMES: the checkout names it twice, the summary and the Pay button; a refund
  has its own "−₱…" line). Where there is a way on to the provider, its button carries the
  amount; once paid, the receipt's total is the one amount;
- no internal codes or jargon: no UTC offsets, no tax-form words, no provider ids or
  names, no stored method codes, no English left on an Indonesian or Filipino page;
- the way on (Pay, Continue to payment) inside the first screen of a phone with its
  browser bars (390×664: a 390×844 phone less Safari's bars), without scrolling;
- axe-core finds nothing serious;
- screenshots at 390×844 and 1280×800 go to test-artifacts/screenshots/state-*.png.
"""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import Page, expect

from app.payments import lifecycle
from tests.support.api import ApiClient
from tests.support.axe import assert_accessible
from tests.support.browser import SHOTS, log_in
from tests.support.i18n import VISIBLE_TEXT_JS, english_leftovers, translated_words
from tests.support.lifecycle import age_payment
from tests.support.outbox import refund_now

pytestmark = pytest.mark.browser

# The browser's language; the amount as each locale writes ₱1,250.00.
LANGUAGES = {
    "en": ("en-US", "₱1,250.00"),
    "id": ("id-ID", "₱1.250,00"),
    "fil": ("fil-PH", "₱1,250.00"),
}
PHONE_WITH_BARS = {"width": 390, "height": 664}
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# English msgids the page must show (in its language), per state.
WORDS = {
    "checkout": ["Amount to pay", "How would you like to pay?"],
    "after-cancel": [
        "Amount to pay",
        "Your payment was cancelled and nothing was charged. "
        "Choose how you want to pay, or come back later.",
    ],
    "started": ["Nothing has been charged yet. To pay another way, cancel this payment first."],
    "pending": ["Finish your payment", "Cancel this payment"],
    "paid": ["Payment successful", "Amount paid", "Official receipt"],
    "declined": [
        "Nothing was charged",
        "The payment provider declined this payment.",
        "Amount tried",
        "Pay again",
    ],
    "cancelled": ["Nothing was charged", "This payment was cancelled.", "Amount tried"],
    "expired": [
        "Nothing was charged",
        "This payment was not completed in time.",
        "Amount tried",
        "Start again",
    ],
    "refunded": ["Refund", "Amount charged", "Refunded", "Net paid"],
    "charged-after-cancel": ["A charge to be refunded", "Charged, to be refunded"],
    # ₱250.00 refunded of ₱1,250.00: the refund's own sentence, and the net
    "partly-refunded": ["Payment successful", "Paid · partly refunded", "Net paid"],
    # ₱250.00, then the rest: a sentence for each, adding up to "Refunded"
    "refunded-in-parts": ["Refund", "Refunded", "Net paid"],
    # paid, after a cancelled payment the provider charged late: the paid payment's page,
    # the list and the consultation's checkout say so and link to it
    "second-charge": ["Payment successful", "See the charge to be refunded"],
    "second-charge-list": ["My consultations", "Paid"],
    "paid-checkout": ["This consultation is paid", "See the charge to be refunded"],
}
# How many times the amount appears in the page's main part, per state: once, but for the
# checkout's summary and Pay button, the refund's "Refunded −₱…" line under the charge, the
# second charge's notice (it names its own amount) and the list's fee.
AMOUNT_TIMES = {
    "checkout": 2,
    "after-cancel": 2,
    "started": 1,
    "pending": 1,
    "paid": 1,
    "declined": 1,
    "cancelled": 1,
    "expired": 1,
    "refunded": 2,
    "charged-after-cancel": 1,
    "partly-refunded": 1,
    "refunded-in-parts": 2,
    "second-charge": 2,
    "second-charge-list": 2,
    "paid-checkout": 1,
}
# Where that one amount is: the way on to the provider carries it, the paid page's receipt.
AMOUNT_IN = {
    "checkout": ".pay-button",
    "after-cancel": ".pay-button",
    "pending": ".pay-bar .button",
    "paid": "#receipt .total",
    "partly-refunded": "#receipt .total",
}
# Words that must not be there: no amount to pay on a paid consultation.
NOT_WORDS = {"paid-checkout": ["Amount to pay"]}
# How each refund reads, in its own words (never only the last one), for these states.
REFUND_SENTENCES = {"partly-refunded": 1, "refunded-in-parts": 2}
# The state's way on, which must be inside the phone's first screen.
WAY_ON = {
    "checkout": ".pay-button",
    "after-cancel": ".pay-button",
    "started": ".pay-bar .button",
    "pending": ".pay-bar .button",
}
# Never on a patient's page: offsets, tax-form words, provider ids and names, stored codes.
JARGON = re.compile(
    r"\+08:00|VATable|Dasar pengenaan|papatawan|sbx_txn|sandbox_txn|Stripe|reserved|Nakareserba"
    r"|disiapkan|\b(?:gcash|bank_transfer|e_wallet|card_declined)\b"
)
# Shown as they are in every language: the language names in the switch, and the reason
# staff wrote for a refund (in their words; the refund form warns them the patient reads it).
ALLOWED = {"English", "Bahasa Indonesia", "Filipino"}
REASON = "Doctor unavailable on the day"


def make_state(live_app, factory, patient, consultation, state: str) -> str:
    """Put the consultation in ``state``; the path the patient opens to see it."""
    api = ApiClient(live_app)
    checkout = f"/consultations/{consultation.id}/checkout"
    if state in ("checkout", "after-cancel"):
        return checkout
    payment_id = api.new_payment(patient, consultation, method="gcash")
    staff = factory.staff()
    with live_app.app_context():
        if state == "declined":
            lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")
        elif state in ("cancelled", "charged-after-cancel"):
            lifecycle.cancel(payment_id, user=patient)
    if state == "expired":
        age_payment(live_app, payment_id, live_app.config["PAYMENT_PENDING_TTL"] + 60)
    if state == "charged-after-cancel":
        # a new payment is under way, so the old page's charge cannot count: owed back
        api.new_payment(patient, consultation, method="bank_transfer")
    if state in (
        "paid",
        "refunded",
        "charged-after-cancel",
        "partly-refunded",
        "refunded-in-parts",
    ):
        api.confirm(staff, payment_id, transaction_id=f"sbx_txn_{payment_id}")
    if state == "refunded":
        refund_now(live_app, payment_id, REASON)
    if state in ("partly-refunded", "refunded-in-parts"):
        assert api.refund(staff, payment_id, REASON, amount="250.00").status_code == 200
    if state == "refunded-in-parts":
        assert api.refund(staff, payment_id, "Lab test not done").status_code == 200
    if state in ("second-charge", "second-charge-list", "paid-checkout"):
        return _second_charge(api, live_app, staff, patient, consultation, payment_id, state)
    return checkout if state == "started" else f"/payments/{payment_id}"


def _second_charge(api, live_app, staff, patient, consultation, first: int, state: str) -> str:
    """Cancel ``first``, pay again, then the provider charges ``first`` late after all."""
    with live_app.app_context():
        lifecycle.cancel(first, user=patient)
    second = api.new_payment(patient, consultation, method="bank_transfer")
    assert api.confirm(staff, second, transaction_id=f"sbx_txn_{second}").status_code == 200
    api.confirm(staff, first, transaction_id=f"sbx_txn_{first}")  # recorded, to refund
    paths = {
        "second-charge": f"/payments/{second}",
        "second-charge-list": "/",
        "paid-checkout": f"/consultations/{consultation.id}/checkout",
    }
    return paths[state]


def in_the_first_screen(page: Page, selector: str) -> None:
    """The way on is visible without scrolling on a phone with its browser bars."""
    page.set_viewport_size(PHONE_WITH_BARS)
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE_WITH_BARS["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WITH_BARS["width"], box


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", WORDS)
def test_each_patient_state_reads_once_and_keeps_the_way_on_in_reach(
    new_context, live_server, live_app, factory, state, language
):
    # given a patient whose browser reads the language, and a consultation in the state
    browser_locale, amount = LANGUAGES[language]
    patient = factory.patient(name="Maria Santos")
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    page = new_context(
        base_url=live_server.url, locale=browser_locale, viewport=SIZES["phone"]
    ).new_page()
    log_in(page, patient, "/")
    path = make_state(live_app, factory, patient, consultation, state)
    # when the patient opens it
    if state == "after-cancel":
        pending = ApiClient(live_app).new_payment(patient, consultation, method="gcash")
        page.goto(f"/payments/{pending}")
        page.locator(".cancel-form button").click()
        page.wait_for_url(re.compile(re.escape(path) + "$"))
    else:
        page.goto(path)
    # then it says each fact once, in its language, with no jargon
    main = page.locator("main")
    for words in translated_words(live_app, language, WORDS[state]):
        expect(main).to_contain_text(words)
    for words in translated_words(live_app, language, NOT_WORDS.get(state, [])):
        expect(main).not_to_contain_text(words)
    text = main.inner_text()
    if state in REFUND_SENTENCES:
        expect(main.locator(".refund-sentence")).to_have_count(REFUND_SENTENCES[state])
    nothing = translated_words(live_app, language, ["Nothing was charged"])[0].lower()
    assert text.lower().count(nothing) <= 1, text
    assert text.count(amount) == AMOUNT_TIMES[state], text
    if state in AMOUNT_IN:
        expect(page.locator(AMOUNT_IN[state])).to_contain_text(amount)
    assert not JARGON.search(page.locator("body").inner_text()), JARGON.search(
        page.locator("body").inner_text()
    )
    if language != "en":
        with live_app.test_request_context(), force_locale(language):
            reason = gettext("Reason: %(reason)s", reason=REASON)
        assert english_leftovers(page.evaluate(VISIBLE_TEXT_JS), ALLOWED | {reason}) == []
    assert_accessible(page, f"{state} ({language})")
    # and the way on is inside a phone's first screen
    if state in WAY_ON:
        in_the_first_screen(page, WAY_ON[state])
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"state-{state}-{language}-{size}.png"), full_page=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_providers_page_reads_in_the_language_and_passes_axe(
    new_context, live_server, live_app, factory, language
):
    patient = factory.patient(name="Maria Santos")
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    page = new_context(
        base_url=live_server.url, locale=LANGUAGES[language][0], viewport=SIZES["phone"]
    ).new_page()
    log_in(page, patient, "/")
    payment_id = ApiClient(live_app).new_payment(patient, consultation, method="gcash")
    page.goto(f"/gateway/sandbox/{payment_id}")
    assert not JARGON.search(page.locator("main").inner_text())
    assert_accessible(page, f"the sandbox provider ({language})")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SHOTS / f"state-provider-{language}-{size}.png"), full_page=True)
