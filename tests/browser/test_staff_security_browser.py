"""Two-factor enrolment and the audit trail in a real browser, on a phone and a desktop:
they fit, pass axe, and the screenshots are kept (docs/staff.md shows the desktop ones)."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.support.api import ApiClient
from tests.support.axe import assert_accessible
from tests.support.browser import VIEWPORTS, fits_the_viewport, log_in, shoot
from tests.support.invoices import invoice_number_of

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_manager_enrols_a_second_factor_and_reads_the_audit_trail(
    new_context, live_server, live_app, factory, viewport
):
    # given a manager, and a patient's invoice a cashier opened
    size = VIEWPORTS[viewport]
    manager = factory.staff(name="Rosa Manager")
    patient = factory.patient(name="Maria Santos")
    payment_id = ApiClient(live_app).new_payment(patient, factory.consultation(patient))
    number = invoice_number_of(live_app, payment_id)
    cashier_page = new_context(base_url=live_server.url, viewport=size).new_page()
    log_in(cashier_page, factory.cashier(name=f"Carla Cashier ({viewport})"), "/staff/invoices")
    cashier_page.goto(f"/staff/invoices/{number}")
    page = new_context(base_url=live_server.url, viewport=size).new_page()
    log_in(page, manager, "/staff/invoices")
    # when the manager turns on two-factor sign-in
    page.get_by_role("link", name="Two-factor sign-in").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    fits_the_viewport(page, size["width"])
    assert_accessible(page, "two-factor enrolment")
    shoot(page, f"two-factor-enrolment-{viewport}")
    secret = page.locator("code.secret").inner_text()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    # then ten recovery codes are shown once
    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    assert_accessible(page, "recovery codes")
    shoot(page, f"recovery-codes-{viewport}")
    # and the audit trail, from the staff navigation, shows who opened whose invoice
    page.goto("/staff/invoices")
    page.get_by_role("link", name="Audit trail").click()
    page.locator("#action").select_option("invoice.viewed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"action=invoice\.viewed"))
    row = page.get_by_role("row").filter(has_text=f"Carla Cashier ({viewport})")
    expect(row).to_contain_text("Maria Santos")
    fits_the_viewport(page, size["width"])
    assert_accessible(page, "audit trail")
    shoot(page, f"audit-trail-{viewport}")
