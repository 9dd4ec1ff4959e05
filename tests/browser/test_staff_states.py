"""Every invoice state a cashier meets, and every staff page, in English, Indonesian and Filipino.

The invoice page of each state (paid, pending, declined, cancelled, expired, refunded, partly
refunded, with two credit memos, charged after a cancel, deleted, with a senior citizen
discount) is read as a cashier reads it:

- its own words, in its language (WORDS), and no sentence twice in the page's main part;
- no stored codes (``gcash``, ``card_declined``, ``previous status: pending``...) and, in
  Indonesian and Filipino, no English left (tests/support/i18n.py);
- axe-core finds nothing serious; no sideways scroll at 390 px.

Then every other staff page (the list, the attention page, the day's books, the discount
cards and log, accounts, the audit log, the refund and delete confirmations) gets the same
English, axe and scroll checks. Screenshots of each at 390×844 and 1280×800 go to
test-artifacts/screenshots/staff-<page>-<language>-<size>.png, beside the patient states'.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import Page, expect

from app.payments import lifecycle
from tests.support.api import ApiClient
from tests.support.axe import assert_accessible
from tests.support.browser import SHOTS, log_in
from tests.support.i18n import VISIBLE_TEXT_JS, english_leftovers, translated_words
from tests.support.lifecycle import age_payment

pytestmark = pytest.mark.browser

LANGUAGES = {"en": "en-US", "id": "id-ID", "fil": "fil-PH"}
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
REASON = "Doctor unavailable on the day"
SECOND_REASON = "Lab test not done"
# English msgids the invoice page must show (in its language), per state.
WORDS = {
    "paid": ["Amount charged", "Refund…"],
    "pending": ["Amount due"],
    "declined": ["Not charged", "Delete this payment"],
    "cancelled": ["Not charged", "Delete this payment"],
    "expired": ["Not charged", "Delete this payment"],
    "refunded": ["Refunded"],
    "partly-refunded": ["Refunded", "Refund…"],
    "credit-memos": ["Refunded", "Refund…"],
    "charged-after-cancel": ["Charged, to be refunded"],
    "deleted": ["Deleted"],
    "discount": ["VAT-exempt sales", "Amount charged"],
}
# Never on a staff page: the codes the database stores, and actor labels.
CODES = re.compile(
    r"\b(?:gcash|bank_transfer|e_wallet|card_declined|senior_citizen|already_completed)\b"
    r"|\b(?:previous status|method|reason|actor)\s*:\s*\w+|\b(?:system|gateway|user):\w+"
)
# Shown as they are in every language: the language names in the switch, the reason staff
# wrote, and the people's and doctor's names.
ALLOWED = {"English", "Bahasa Indonesia", "Filipino", REASON, SECOND_REASON}
SENIOR = ["--kind", "senior_citizen", "--id-number", "QC-2019-0042", "--name", "Remedios Cruz"]


def make_state(live_app, factory, staff, state: str) -> int:
    """A consultation's payment in ``state``, made through the service; its id."""
    api = ApiClient(live_app)
    patient = factory.patient(name="Maria Santos")
    if state == "discount":
        runner = live_app.test_cli_runner()
        result = runner.invoke(args=["users", "set-discount", patient.email, *SENIOR])
        assert result.exit_code == 0, result.output
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    payment_id = api.new_payment(patient, consultation, method="gcash")
    with live_app.app_context():
        if state == "declined":
            lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")
        elif state in ("cancelled", "charged-after-cancel", "deleted"):
            lifecycle.cancel(payment_id, user=patient)
    if state == "expired":
        age_payment(live_app, payment_id, live_app.config["PAYMENT_PENDING_TTL"] + 60)
        with live_app.app_context():
            assert lifecycle.expire_stale() >= 1
    if state == "charged-after-cancel":
        api.new_payment(patient, consultation, method="bank_transfer")
    if state in ("paid", "refunded", "partly-refunded", "credit-memos", "discount"):
        api.confirm(staff, payment_id, transaction_id=f"sbx_txn_{payment_id}")
    if state == "charged-after-cancel":
        api.confirm(staff, payment_id, transaction_id=f"sbx_txn_{payment_id}")
    with live_app.app_context():
        if state == "refunded":
            lifecycle.refund(payment_id, REASON, actor=staff)
        elif state in ("partly-refunded", "credit-memos"):
            lifecycle.refund(payment_id, REASON, actor=staff, amount="250.00")
            if state == "credit-memos":
                lifecycle.refund(payment_id, SECOND_REASON, actor=staff, amount="100.00")
        elif state == "deleted":
            lifecycle.delete(payment_id, REASON, actor=staff)
    return payment_id


def invoice_number(live_app, payment_id: int) -> str:
    from app.extensions import db
    from app.models import Payment

    with live_app.app_context():
        return db.session.get(Payment, payment_id).invoice.invoice_number


def repeated_sentences(text: str) -> list[str]:
    """Sentences of four words or more (not dates: words of letters) the text says twice."""
    sentences = []
    for line in text.splitlines():
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line)]
    counts = Counter(s for s in sentences if len(re.findall(r"[^\W\d_]{2,}", s)) >= 4)
    return [s for s, n in counts.items() if n > 1]


def read_as_a_cashier(page: Page, live_app, language: str, name: str) -> None:
    """Screenshots at both sizes; then no codes, no English left (id, fil), axe clean, and no
    sideways scroll."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    widths = {}
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        widths[size] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(SHOTS / f"staff-{name}-{language}-{size}.png"), full_page=True)
    wider = {size: w for size, w in widths.items() if w > SIZES[size]["width"]}
    assert not wider, f"{name} scrolls sideways: {wider}"
    body = page.locator("body").inner_text()
    assert not CODES.search(body), CODES.search(body)
    if language != "en":
        with live_app.test_request_context(), force_locale(language):
            allowed = ALLOWED | {gettext("Reason: %(reason)s", reason=r) for r in ALLOWED}
        assert english_leftovers(page.evaluate(VISIBLE_TEXT_JS), allowed) == []
    assert_accessible(page, f"{name} ({language})")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", WORDS)
def test_each_invoice_state_reads_once_in_the_cashiers_language(
    new_context, live_server, live_app, factory, state, language
):
    # given an invoice in the state, and staff whose browser reads the language
    staff = factory.staff(name="Rosa Reyes")
    payment_id = make_state(live_app, factory, staff, state)
    page = new_context(
        base_url=live_server.url, locale=LANGUAGES[language], viewport=SIZES["phone"]
    ).new_page()
    log_in(page, staff, "/staff/invoices")
    # when they open its invoice
    page.goto(f"/staff/invoices/{invoice_number(live_app, payment_id)}")
    # then it says each fact once, in the language, with no codes
    read_as_a_cashier(page, live_app, language, f"invoice-{state}")
    main = page.locator("main")
    for words in translated_words(live_app, language, WORDS[state]):
        expect(main).to_contain_text(words)
    # (the history is a log: each event there repeats what it changed)
    outside_the_log = main.evaluate(
        "m => { const c = m.cloneNode(true); c.querySelector('.history')?.remove();"
        " document.body.append(c); const t = c.innerText; c.remove(); return t; }"
    )
    assert repeated_sentences(outside_the_log) == []
    # and the history names each detail in words, not as the stored key ("remaining")
    for name in page.locator(".history .detail > .muted").all_inner_texts():
        assert name[:1].isupper(), name


# Every other staff page: its name in the screenshots, and its address.
PAGES = {
    "list": "/staff/invoices",
    "attention": "/staff/attention",
    "books": "/staff/books",
    "discount-cards": "/staff/discounts",
    "discount-log": "/staff/discounts/log",
    "accounts": "/staff/accounts",
    "audit": "/staff/audit",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_staff_page_reads_in_the_language_and_passes_axe(
    new_context, live_server, live_app, factory, language
):
    # given a paid, a declined and a discounted invoice (so a card is recorded and the
    # discount log has a line), and staff whose browser reads the language
    staff = factory.staff(name="Rosa Reyes")
    make_state(live_app, factory, staff, "discount")
    paid = invoice_number(live_app, make_state(live_app, factory, staff, "paid"))
    declined = invoice_number(live_app, make_state(live_app, factory, staff, "declined"))
    page = new_context(
        base_url=live_server.url, locale=LANGUAGES[language], viewport=SIZES["phone"]
    ).new_page()
    log_in(page, staff, "/staff/invoices")
    # then each page reads in it, with no codes, and passes axe at both sizes
    for name, path in PAGES.items():
        page.set_viewport_size(SIZES["phone"])
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", language)
        read_as_a_cashier(page, live_app, language, name)
        if name == "discount-cards":  # its cards stack on a phone, no sideways scroller
            page.set_viewport_size(SIZES["phone"])
            scroller = page.locator(".table-scroll").first
            assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth")
    # and so do the refund's and the delete's confirmation pages
    for action, number, form in (
        ("refund", paid, "#refund"),
        ("delete", declined, "section.delete"),
    ):
        page.set_viewport_size(SIZES["phone"])
        page.goto(f"/staff/invoices/{number}")
        page.locator(f"{form} [name=reason]").fill(REASON)
        page.locator(f"{form} button[type=submit]").click()
        page.wait_for_url(re.compile(rf"/{action}/confirm$"))
        read_as_a_cashier(page, live_app, language, f"{action}-confirm")
