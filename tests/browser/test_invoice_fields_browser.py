"""A VAT invoice, a non-VAT invoice and a senior citizen's invoice, as staff see them on a
phone (390 px) and as printed on A4: every field visible, nothing scrolls sideways, axe clean.
Screenshots go to test-artifacts/screenshots/ (docs/invoices.md)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import create_app
from app.extensions import db
from app.models import Payment
from tests.conftest import base_config
from tests.support.api import ApiClient
from tests.support.axe import assert_accessible
from tests.support.browser import VIEWPORTS, fits_the_viewport, log_in, shoot
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

# A4 at 96 CSS pixels per inch: 210 × 297 mm.
A4 = {"width": 794, "height": 1123}


@pytest.fixture(scope="module")
def non_vat_server(live_database_url, live_redis_url):
    """The same database served by a clinic that is not VAT-registered."""
    server = LiveServer(
        database_url=live_database_url,
        redis_url=live_redis_url,
        workers=1,
        threads=2,
        env={"CLINIC_VAT_REGISTERED": "0"},
    ).start()
    yield server
    server.stop()


def _paid_invoice(app, factory, staff, *, fee: str, card: list[str] | None = None) -> str:
    patient = factory.patient(name="Remedios Cruz")
    consultation = factory.consultation(patient, fee=fee, doctor="Dr. Ana Cruz")
    if card:
        result = app.test_cli_runner().invoke(args=["users", "set-discount", patient.email, *card])
        assert result.exit_code == 0, result.output
    api = ApiClient(app)
    payment_id = api.new_payment(patient, consultation)
    assert (
        api.confirm(staff, payment_id, transaction_id=f"txn_shot_{payment_id}").status_code == 200
    )
    with app.app_context():
        return db.session.get(Payment, payment_id).invoice.invoice_number


def _look(new_context, base: str, staff, number: str, name: str, must_show: list[str]) -> None:
    for viewport, size in (("phone", VIEWPORTS["phone"]), ("a4", A4)):
        page = new_context(base_url=base, viewport=size).new_page()
        log_in(page, staff, lands_on="/staff/invoices", base=base)
        page.goto(f"{base}/staff/invoices/{number}")
        sheet = page.locator("article.invoice-sheet")
        for text in must_show:
            expect(sheet).to_contain_text(text)
        if viewport == "phone":
            fits_the_viewport(page, size["width"])
            assert_accessible(page, f"{name} on a phone")
            shoot(page, f"invoice-{name}-phone")
        else:
            page.emulate_media(media="print")
            expect(page.locator(".site-header")).to_be_hidden()
            shoot(page, f"invoice-{name}-a4")
        page.context.close()


def test_a_vat_invoice(new_context, live_server, live_app, factory):
    staff = factory.staff()
    number = _paid_invoice(live_app, factory, staff, fee="1250")
    fields = ["VAT Reg. TIN 000-123-456-00000", "Demo Family Clinic Medical Services",
              "Unit price", "VATable sales", "₱1,116.07", "VAT-exempt sales", "Zero-rated sales",
              "VAT (12%)", "₱133.93", "Discounts", "₱1,250.00", "Computerized invoicing"]  # fmt: skip
    _look(new_context, live_server.url, staff, number, "vat", fields)


def test_a_senior_citizens_invoice(new_context, live_server, live_app, factory):
    staff = factory.staff()
    card = ["--kind", "senior_citizen", "--id-number", "QC-2019-0042", "--name", "Remedios Cruz"]
    number = _paid_invoice(live_app, factory, staff, fee="1120", card=card)
    fields = ["Less: VAT", "−₱120.00", "VAT-exempt sales", "₱1,000.00",
              "Less: Senior citizen discount (20%)", "−₱200.00", "₱800.00", "QC-2019-0042"]  # fmt: skip
    _look(new_context, live_server.url, staff, number, "senior-citizen", fields)


def test_a_non_vat_invoice(new_context, non_vat_server, live_database_url, live_redis_url, factory):
    app = create_app(base_config(live_database_url, live_redis_url, CLINIC_VAT_REGISTERED=False))
    staff = factory.staff()
    number = _paid_invoice(app, factory, staff, fee="1120")
    fields = ["Non-VAT Reg. TIN 000-123-456-00000", "₱1,120.00",
              "This document is not valid for claim of input tax."]  # fmt: skip
    _look(new_context, non_vat_server.url, staff, number, "non-vat", fields)
    page = new_context(base_url=non_vat_server.url).new_page()
    log_in(page, staff, lands_on="/staff/invoices", base=non_vat_server.url)
    page.goto(f"{non_vat_server.url}/staff/invoices/{number}")
    expect(page.locator("article.invoice-sheet")).not_to_contain_text("VATable")
    with app.app_context():
        db.engine.dispose()
