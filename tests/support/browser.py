"""Steps and checks the browser tests share: log in, open the checkout, press Pay, find the
consultation's one payment, wait for the page, take screenshots at a phone's and a desktop's size.

Screenshots go to test-artifacts/ (ignored by git); with ``UPDATE_DOCS_SCREENSHOTS=1`` the ones
the README and docs/ show are copied to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import Payment
from tests.support.factory import PASSWORD
from tests.support.invariants import check_invariants
from tests.support.live import ROOT

ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


def keep_for_docs(shot: Path, name: str | None = None) -> None:
    """With ``UPDATE_DOCS_SCREENSHOTS=1``, copy the screenshot ``shot`` into docs/screenshots/
    (as ``name``, else its own name): the copies the README and docs/ show."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOTS / (name or shot.name))


VIEWPORTS = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 800},
}
SHOTS = ARTIFACTS / "screenshots"
# The README and docs/ show these; the others stay test artifacts.
FOR_DOCS = {
    "checkout-desktop",
    "checkout-phone",
    "checkout-processing-phone",
    "payment-desktop",
    "payment-phone",
    "money-refunded-phone",
    "money-declined-phone",
    "money-paid-desktop",
    # the provider, the success panel, cancel, the failure alert
    "provider-phone",
    "paid-phone",
    "paid-desktop",
    "payment-pending-phone",
    "checkout-after-cancel-phone",
    "checkout-unreachable-phone",
    "money-cancelled-phone",
    "two-factor-enrolment-desktop",
    "audit-trail-desktop",
}


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if name in FOR_DOCS:
        keep_for_docs(path)


def fits_the_viewport(page: Page, width: int) -> None:
    """Readable: nothing scrolls sideways, text is at least 16px, buttons are thumb-sized."""
    # Measured once the stylesheet has loaded: right after a click, a busy machine can lay
    # the new page out unstyled for a moment (a 19 px "button").
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
    for button in page.locator("main .button.primary, main button.primary").all():
        if button.is_visible():
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
            assert box["height"] >= 44, (button.inner_text(), box)


def log_in(page: Page, user, lands_on: str | None = None, *, base: str = "") -> None:
    """Log ``user`` in through the login page as a person would, in any language (the fields
    by id, the form's own button), and wait until they land: on the path ``lands_on`` (say
    "/staff/invoices"), or by default on the patient's "My consultations" heading (English).
    ``base``: the server's URL, for a page opened without a ``base_url``."""
    page.goto(f"{base}/login")
    page.locator("#email").fill(user.email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    if lands_on is None:
        expect(page.get_by_role("heading", name="My consultations")).to_be_visible()
    else:
        page.wait_for_url(re.compile(re.escape(base + lands_on) + "$"))


def checkout_path(consultation) -> str:
    return f"/consultations/{consultation.id}/checkout"


def open_checkout(page: Page, consultation, method: str = "GCash") -> None:
    page.goto(checkout_path(consultation))
    expect(
        page.get_by_role("heading", name=f"Consultation with {consultation.doctor_name}")
    ).to_be_visible()
    page.get_by_label(method).check()


def pay_button(page: Page):
    """The Pay button, which says what happens next and names the amount (₱5,000.00 here)."""
    return page.get_by_role("button", name=re.compile(r"^Continue to payment · ₱[\d,]+\.\d\d$"))


CHECKOUT_URL = re.compile(r"/consultations/\d+/checkout$")
PAYMENT_URL = re.compile(r"/payments/\d+$")
PROVIDER_URL = re.compile(r"/gateway/sandbox/\d+$")


def at_the_provider(page: Page, app, consultation) -> Payment:
    """Pay went straight to the provider's page for the consultation's one payment."""
    expect(page).to_have_url(PROVIDER_URL)
    payment = the_one_payment(app, consultation)
    assert page.url.endswith(f"/gateway/sandbox/{payment.id}")
    expect(page.get_by_text("SandboxPay").first).to_be_visible()
    return payment


def wait_until(page: Page, condition, what: str, timeout_s: float = 10.0) -> None:
    """Let Playwright deliver events (route handlers run then) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(20)


def _the_only(app, consultation, *where, what: str) -> Payment:
    with app.app_context():
        found = (
            db.session.execute(
                select(Payment).where(Payment.consultation_id == consultation.id, *where)
            )
            .scalars()
            .all()
        )
        assert len(found) == 1, f"{len(found)} {what} for consultation {consultation.id}"
        db.session.expunge_all()
        db.session.rollback()
    check_invariants(app)
    return found[0]


def the_one_payment(app, consultation) -> Payment:
    """Exactly one payment exists for the consultation, and the invariants hold."""
    return _the_only(app, consultation, what="payments")


def the_one_active_payment(app, consultation) -> Payment:
    """Exactly one active payment for the consultation (others cancelled, say); invariants hold."""
    return _the_only(app, consultation, Payment.is_active, what="active payments")


def payment_count(app, consultation) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(Payment)
            .where(Payment.consultation_id == consultation.id)
        )
        db.session.rollback()
        return count
