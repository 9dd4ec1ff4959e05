"""Staff in a real Chromium: log in, filter with htmx, open an invoice, print it.

Runs the app under gunicorn (tests/support/live.py) on this test's PostgreSQL
database and Redis. Screenshots go to test-artifacts/ (ignored by git).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import ARTIFACTS, keep_for_docs, log_in
from tests.support.factory import Factory
from tests.support.invoices import InvoiceSpec, add_event, add_invoices
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

# Debian's Chromium comes from tests/browser/conftest.py (browser_type_launch_args).


@pytest.fixture(scope="session")
def base_url():
    """No fixed base URL (each test has its own live server).

    Also replaces pytest-playwright's fallback ``base_url``, a session fixture
    defined as an instance method, which pytest 9 warns about (an error here).
    """
    return None


@pytest.fixture
def factory(app):
    """This module's server runs on the test's own database (``app``), not the shared one."""
    return Factory(app)


@pytest.fixture
def clinic(app, factory):
    """A staff member and two patients with a month of invoices."""
    staff = factory.staff(name="Clinic Staff", email="staff@clinic.test")
    maria = factory.patient(name="Maria Santos", email="maria.santos@example.test")
    jose = factory.patient(name="Jose Reyes", email="jose.reyes@example.test")
    start = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    doctors = ["Dr. Ana Cruz", "Dr. Ramon Dela Rosa", "Dr. Liza Mercado"]
    fees = ["5000", "1500", "2750.50"]
    statuses = ["paid", "paid", "pending", "paid", "refunded", "paid", "void"]
    methods = ["gcash", "stripe", "bank_transfer", "e_wallet"]

    def specs(offset: int) -> list[InvoiceSpec]:
        return [
            InvoiceSpec(
                status=statuses[(n + offset) % len(statuses)],
                method=methods[(n + offset) % len(methods)],
                fee=fees[(n + offset) % len(fees)],
                doctor=doctors[(n + offset) % len(doctors)],
                issued_at=start + timedelta(days=2 * n + offset, hours=n),
                transaction_id=f"tx_{offset}_{n}"
                if statuses[(n + offset) % len(statuses)] != "pending"
                else None,
            )
            for n in range(6)
        ]

    maria_numbers = add_invoices(app, maria, specs(0))
    jose_numbers = add_invoices(app, jose, specs(1))
    add_event(app, jose_numbers[0], "confirmed", actor="gateway:sandbox", transaction_id="tx_1_0")
    add_event(
        app,
        jose_numbers[0],
        "duplicate_charge",
        actor="gateway:sandbox",
        transaction_id="tx_1_0_again",
        amount="1500.00",
        reason="already_completed",
    )
    return staff, maria_numbers, jose_numbers


@pytest.fixture
def live(clinic, database_url, redis_url):
    server = LiveServer(database_url=database_url, redis_url=redis_url, workers=1, threads=4)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Console errors, such as a CSP violation from an inline script or style."""
    errors: list[str] = []

    def record(message) -> None:
        # The app has no favicon; the browser's automatic request for one is not our page's error.
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            errors.append(f"{message.text} on {page.url}")

    page.on("console", record)
    return errors


def test_staff_find_open_and_print_an_invoice(page: Page, live, clinic, console_errors):
    staff, maria_numbers, jose_numbers = clinic
    page.set_viewport_size({"width": 1280, "height": 900})
    # given a logged-in staff member on the invoice list
    log_in(page, staff, "/staff/invoices", base=live.url)
    page.get_by_role("link", name="Invoices").click()
    expect(page.locator("tbody tr[data-invoice-number]")).to_have_count(12)
    expect(page.locator(".totals-all")).to_contain_text("12 invoices")
    page.screenshot(path=str(ARTIFACTS / "staff-invoices-list.png"))
    keep_for_docs(ARTIFACTS / "staff-invoices-list.png", "staff-invoices.png")
    page.evaluate("window.notReloaded = true")

    # when filtering by status and patient (htmx swaps the results, the URL follows)
    page.get_by_label("Status").select_option("paid")
    page.wait_for_url(re.compile(r"/staff/invoices\?status=paid"))
    page.get_by_label("Patient").fill("reyes")
    page.get_by_label("Patient").press("Enter")
    page.wait_for_url(re.compile(r"status=paid.*patient=reyes"))

    # then only Jose's paid invoices are shown, without a full page load
    rows = page.locator("tbody tr[data-invoice-number]")
    expect(rows).to_have_count(3)
    for badge in rows.locator(".badge").all():
        expect(badge).to_have_text("Paid")
    expect(rows.first).to_contain_text("Jose Reyes")
    assert page.evaluate("window.notReloaded") is True
    filtered_url = page.url

    # and the filtered URL works on its own, without JavaScript's help
    page.goto(filtered_url)
    expect(page.locator("tbody tr[data-invoice-number]")).to_have_count(3)
    expect(page.get_by_label("Status")).to_have_value("paid")

    # when opening the invoice flagged as a duplicate charge
    number = jose_numbers[0]
    page.get_by_role("link", name=number).click()
    page.wait_for_url(f"{live.url}/staff/invoices/{number}")
    # a paid invoice is headed by its sales invoice serial; its payment reference is a fact
    expect(page.locator(".invoice-title")).to_contain_text(re.compile(r"Sales invoice No\. \d{6}"))
    expect(page.locator(".invoice-sheet")).to_contain_text(number)
    expect(page.locator(".history")).to_contain_text("Duplicate charge flagged")
    expect(page.locator(".site-header")).to_be_visible()

    # then the print view shows the invoice alone: no navigation, no buttons, no history
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print invoice")).to_be_hidden()
    expect(page.locator(".history")).to_be_hidden()
    expect(page.locator(".payment-facts")).to_be_hidden()
    expect(page.locator(".invoice-sheet")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "staff-invoice-print.png"), full_page=True)
    pdf = page.pdf(format="A4", path=str(ARTIFACTS / "staff-invoice.pdf"))
    assert _pdf_pages(pdf) == 1

    # and going back returns to the filtered list (fetched again, not from localStorage)
    page.emulate_media(media="screen")
    page.go_back()
    page.wait_for_url(filtered_url)
    expect(page.locator("tbody tr[data-invoice-number]")).to_have_count(3)
    assert console_errors == [], "\n".join(console_errors)


def _pdf_pages(pdf: bytes) -> int:
    """Page objects in a PDF (``/Type /Page``, not ``/Type /Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def test_the_attention_page_says_what_to_refund_in_staff_words(
    page: Page, live, clinic, console_errors
):
    staff, _, jose_numbers = clinic
    for name, size in (("desktop", (1280, 900)), ("phone", (390, 844))):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        if name == "desktop":
            log_in(page, staff, "/staff/invoices", base=live.url)
        page.goto(live.url + "/staff/attention")
        charges = page.locator("#duplicate-charges")
        expect(charges).to_contain_text("reported a charge we could not apply")
        expect(charges).to_contain_text(
            "Refund ₱1,500.00 (transaction tx_1_0_again) at the payment"
        )
        expect(charges.get_by_role("link", name=jose_numbers[0])).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("PAYMENT_PENDING_TTL")
        # wide tables scroll inside their card; the page itself never scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
        page.screenshot(path=str(ARTIFACTS / f"staff-attention-{name}.png"), full_page=True)
    assert console_errors == []
