"""Staff pages in a real Chromium, as a clinic uses them all day.

A logout in another tab, printing, typing filters, the refund that asks first, every page
at 390 px wide, and axe-core on every staff page. Screenshots at 390x844 and 1280x800 go to
test-artifacts/staff-*.png (ignored by git).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.support.axe import assert_accessible
from tests.support.browser import ARTIFACTS, log_in
from tests.support.factory import PASSWORD
from tests.support.invoices import InvoiceSpec, add_event, add_invoices

pytestmark = pytest.mark.browser

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
NOV = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
# window.print opens a dialog Playwright cannot close: count the calls instead.
COUNT_PRINTS = "window.__prints = 0; window.print = () => { window.__prints += 1; };"


@pytest.fixture(scope="module")
def clinic(live_app):
    """Staff, two patients, a fortnight of invoices (one with a long history), a checkout."""
    from tests.support.factory import Factory

    factory = Factory(live_app)
    staff = factory.staff(name="Clinic Staff", email="allday.staff@clinic.test")
    maria = factory.patient(name="Maria Santos", email="allday.maria@example.test")
    jose = factory.patient(name="Jose Reyes", email="allday.jose@example.test")
    statuses = ["paid", "pending", "paid", "void", "refunded", "paid"]
    specs = [
        InvoiceSpec(
            status=statuses[n % len(statuses)],
            method=["gcash", "stripe", "bank_transfer", "e_wallet"][n % 4],
            fee=["5000", "1500", "2750.50"][n % 3],
            issued_at=NOV + timedelta(days=n, hours=n),
            transaction_id=f"tx_allday_{n}" if statuses[n % len(statuses)] != "pending" else None,
        )
        for n in range(12)
    ]
    maria_numbers = add_invoices(live_app, maria, specs[:6])
    jose_numbers = add_invoices(live_app, jose, specs[6:])
    long_id = "tx_" + "9f86d081884c7d659a2feaa0c55ad015" * 3
    add_event(
        live_app,
        maria_numbers[0],
        "duplicate_charge",
        actor="gateway:sandbox",
        transaction_id=long_id,
        amount="5000.00",
        reason="already_completed",
        action="refund this charge at the provider",
    )
    consultation = factory.consultation(maria, fee="5000", doctor="Dr. Ana Cruz")
    return {
        "staff": staff,
        "maria": maria,
        "maria_numbers": maria_numbers,
        "jose_numbers": jose_numbers,
        "consultation": consultation,
    }


def shoot(page: Page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"staff-{name}.png"), full_page=full_page)


def no_sideways_scroll(page: Page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} scrolls sideways at {inner}px: {width}px wide"


def test_logged_out_in_another_tab_a_filter_change_goes_to_the_login_page_whole(context, clinic):
    # given staff on the invoice list in one tab
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    # when they log out in another tab, then change a filter in the first
    other = context.new_page()
    other.goto("/staff/attention")
    other.get_by_role("button", name="Log out").click()
    other.wait_for_url(re.compile(r"/login$"))
    page.get_by_label("Status").select_option("paid")
    # then the whole page goes to the login, once, and comes back to the filtered list
    page.wait_for_url(re.compile(r"/login\?next="))
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/staff/invoices"]
    expect(page.locator(".site-header")).to_have_count(1)
    expect(page.locator("#invoice-results")).to_have_count(0)
    page.get_by_label("Email").fill(clinic["staff"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/staff/invoices$"))


def test_print_opens_the_dialog_once_on_the_invoice_and_on_the_receipt(
    context, browser, live_server, clinic
):
    context.add_init_script(COUNT_PRINTS)
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    page.goto(f"/staff/invoices/{clinic['maria_numbers'][0]}")
    page.get_by_role("button", name="Print invoice").click()
    assert page.evaluate("window.__prints") == 1
    page.emulate_media(media="print")
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        shoot(page, f"print-{name}")
    page.emulate_media(media="screen")
    # the patient's receipt button: the same one binding
    patient = browser.new_context(base_url=live_server.url)
    patient.add_init_script(COUNT_PRINTS)
    receipt = patient.new_page()
    log_in(receipt, clinic["maria"], "/")
    paid = clinic["maria_numbers"][0].rsplit("-", 1)[1]
    receipt.goto(f"/payments/{paid}")
    receipt.get_by_role("button", name="Print receipt").click()
    assert receipt.evaluate("window.__prints") == 1
    patient.close()


def test_typing_filters_searches_once_per_finished_value_and_flashes_no_errors(context, clinic):
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    refused: list[str] = []
    searches: list[str] = []

    def seen(response) -> None:
        if "/staff/invoices?" in response.url and response.request.headers.get("hx-request"):
            searches.append(response.url)
            if response.status >= 400:
                refused.append(f"{response.status} {response.url}")

    page.on("response", seen)
    # an error box appearing even for a moment counts
    page.evaluate(
        """window.__errorsShown = 0;
        new MutationObserver(() => {
          if (document.querySelector('.filter-errors')) window.__errorsShown += 1;
        }).observe(document.body, {childList: true, subtree: true});"""
    )
    start = page.evaluate("history.length")
    # when typing a date, key by key (Chromium's date box: month, day, year)
    date_box = page.get_by_label("Issued from")
    date_box.focus()
    date_box.press_sequentially("11052026", delay=60)
    expect(page).to_have_url(re.compile(r"issued_from=2026-11-05"))
    # and correcting its year: 2026 becomes 0002, 0020, 0202, then 2025 as it is typed
    # (at a person's pace: each partial year would have time to reach the server)
    date_box.press_sequentially("2025", delay=300)
    expect(page).to_have_url(re.compile(r"issued_from=2025-11-05"))
    # and a patient's name, key by key
    page.get_by_label("Patient").press_sequentially("maria", delay=60)
    expect(page).to_have_url(re.compile(r"patient=maria"))
    page.wait_for_timeout(600)
    # then no partial year reached the server, no error flashed, and the rows are Maria's
    assert refused == [], refused
    assert page.evaluate("window.__errorsShown") == 0
    assert not any(re.search(r"issued_from=0", url) for url in searches), searches
    rows = page.locator("tbody tr[data-invoice-number]")
    expect(rows.first).to_contain_text("Maria Santos")
    # and history holds one entry for the date, none per keystroke of the name
    assert page.evaluate("history.length") - start <= 2, searches
    assert len(searches) <= 4, searches  # 2026, 2025, "maria", leaving the box
    assert "method=" not in page.url and "status=" not in page.url  # only non-empty filters
    # and leaving the name box (a change) adds no entry for the search already shown
    before_blur = page.evaluate("history.length")
    page.get_by_label("Status").focus()
    page.wait_for_timeout(500)
    assert page.evaluate("history.length") == before_blur
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        shoot(page, f"list-filtered-{name}")
    # Back returns to the search before (the first date), not to a keystroke
    page.go_back()
    expect(page).to_have_url(re.compile(r"/staff/invoices\?issued_from=2026-11-05$"))
    expect(page.get_by_label("Issued from")).to_have_value("2026-11-05")


def test_refund_asks_first_then_says_who_refunded_it_on_the_invoice(context, clinic):
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    number = clinic["jose_numbers"][2]  # paid
    page.goto(f"/staff/invoices/{number}")
    page.get_by_label("Reason for the refund").fill("Doctor unavailable")
    page.get_by_role("button", name=re.compile(r"^Refund…$")).click()
    expect(page.get_by_role("heading", name="Refund this payment?")).to_be_visible()
    expect(page.locator(".refund-confirm")).to_contain_text("Jose Reyes")
    confirm = page.get_by_role("button", name=re.compile(r"^Refund ₱[\d,.]+ to Jose Reyes$"))
    background = confirm.evaluate("b => getComputedStyle(b).backgroundColor")
    assert background == "rgb(179, 38, 30)", background  # var(--err): destructive
    for name, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        no_sideways_scroll(page)
        shoot(page, f"refund-confirm-{name}")
    assert_accessible(page)
    confirm.click()
    page.wait_for_url(re.compile(rf"/staff/invoices/{number}$"))
    expect(page.locator(".invoice-sheet .invoice-refund")).to_contain_text(
        re.compile(r"Refunded on .+ by Clinic Staff")
    )


def staff_pages(clinic) -> dict[str, str]:
    numbers = clinic["maria_numbers"]
    return {
        "list": "/staff/invoices",
        "list-filtered": "/staff/invoices?status=paid&patient=maria",
        "list-error": "/staff/invoices?issued_from=2026-13-01",
        "list-deleted": "/staff/invoices?status=deleted",
        "detail": f"/staff/invoices/{numbers[0]}",
        "detail-void": f"/staff/invoices/{numbers[3]}",
        "detail-refunded": f"/staff/invoices/{numbers[4]}",
        "attention": "/staff/attention",
        "not-found": "/staff/invoices/INV-00000000000000-999999",
    }


def test_every_staff_page_fits_a_phone_and_passes_axe(context, clinic):
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    for name, path in staff_pages(clinic).items():
        page.goto(path)
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            no_sideways_scroll(page)
            if name in ("list", "detail"):
                shoot(page, f"{name}-{size}")
        assert_accessible(page)
    # the list's dates say which is which on a phone, where the header row is hidden
    page.goto("/staff/invoices")
    page.set_viewport_size({"width": 390, "height": 844})
    issued = page.locator("tbody tr[data-invoice-number] td[data-label=Issued]").first
    assert issued.evaluate("td => getComputedStyle(td, '::before').content") == '"Issued "'


def test_no_page_of_the_app_scrolls_sideways_on_a_phone(browser, live_server, clinic):
    """Logged out, as a patient and as staff: every page at 390 px is at most 390 px wide."""
    patient_payment = clinic["maria_numbers"][0].rsplit("-", 1)[1]
    pending_payment = clinic["maria_numbers"][1].rsplit("-", 1)[1]
    visits = {
        None: ["/login", "/staff/invoices/INV-1-1"],
        clinic["maria"]: [
            "/",
            f"/consultations/{clinic['consultation'].id}/checkout",
            f"/payments/{patient_payment}",
            f"/gateway/sandbox/{pending_payment}",
            "/payments/999999",
        ],
        clinic["staff"]: [
            *staff_pages(clinic).values(),
            f"/payments/{patient_payment}",
        ],
    }
    checked = 0
    for user, paths in visits.items():
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 390, "height": 844}
        )
        page = context.new_page()
        if user is not None:
            log_in(page, user, "/staff/invoices" if user.is_staff else "/")
        for path in paths:
            page.goto(path)
            no_sideways_scroll(page)
            checked += 1
        context.close()
    assert checked == 17


LONG_WORD = "Refnum" + "0123456789ABCDEF" * 12
LONG_REASON = "Patient paid twice at the counter and online; " * 6 + LONG_WORD


@pytest.mark.parametrize("locale", ["en", "id", "fil"])
def test_the_attention_page_never_scrolls_sideways_on_a_phone_with_long_content(
    browser, live_app, live_server, clinic, locale
):
    # given long, unbreakable content in every list of the page
    from app.extensions import db
    from app.models import GatewayEvent, Invoice

    number = clinic["jose_numbers"][0]
    add_event(
        live_app,
        number,
        "duplicate_charge",
        actor="gateway:sandbox",
        transaction_id=LONG_WORD,
        amount="1500.00",
        reason=LONG_REASON,
        action=LONG_REASON,
    )
    add_event(
        live_app,
        number,
        "amount_mismatch",
        actor="gateway:sandbox",
        transaction_id=LONG_WORD,
        reported_amount="1.00",
        reported_currency="USD" + LONG_WORD,
    )
    with live_app.app_context():
        payment_id = db.session.query(Invoice).filter_by(invoice_number=number).one().payment_id
        db.session.add(
            GatewayEvent(
                event_id=f"evt_{locale}_{LONG_WORD}",
                event_type=("payment." + LONG_WORD)[:64],
                payment_id=payment_id,
                body=("{" + LONG_WORD).encode(),
                outcome="unreadable",
                note=LONG_REASON,
            )
        )
        db.session.commit()
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale=locale
    )
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    # when
    page.goto("/staff/attention")
    # then the long words are there, and the page is no wider than the phone
    assert page.locator("html").get_attribute("lang") == locale
    assert LONG_WORD[:40] in page.content()
    no_sideways_scroll(page)
    # and no cell is cut off inside a scrolling table: each is read where it stands
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('main td')]"
        ".map(td => td.getBoundingClientRect().right))"
    )
    assert widest <= 390, f"a cell of the attention page ends at {widest}px"
    shoot(page, f"attention-long-{locale}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    no_sideways_scroll(page)
    shoot(page, f"attention-long-{locale}-desktop")
    assert_accessible(page)
    context.close()


def test_delete_and_two_factor_reset_confirmations_fit_a_phone_and_pass_axe(context, clinic):
    page = context.new_page()
    log_in(page, clinic["staff"], "/staff/invoices")
    void = clinic["maria_numbers"][3]
    page.goto(f"/staff/invoices/{void}")
    # a blank reason: the error summary at the top, focused
    page.get_by_role("button", name="Delete…").click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page)
    page.get_by_label("Reason for deleting it").fill("Booked twice by mistake")
    page.get_by_role("button", name="Delete…").click()
    page.wait_for_url(re.compile(rf"/staff/invoices/{void}/delete/confirm$"))
    expect(page.get_by_role("heading", name="Delete this payment?")).to_be_visible()
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        no_sideways_scroll(page)
        shoot(page, f"delete-confirm-{size}")
    assert_accessible(page)
    # cancelling keeps the payment
    page.get_by_role("link", name="Cancel, keep the payment").click()
    page.wait_for_url(re.compile(rf"/staff/invoices/{void}$"))
    expect(page.get_by_role("heading", name="Delete this payment")).to_be_visible()
    page.goto(f"/staff/accounts/{clinic['staff'].id}/reset-2fa")
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        no_sideways_scroll(page)
        shoot(page, f"reset-two-factor-{size}")
    assert_accessible(page)
