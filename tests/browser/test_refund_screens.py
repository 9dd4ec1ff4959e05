"""A refund on its way to the provider, as the patient and staff read it, on a phone and a desktop.

Screenshots go to test-artifacts/screenshots/refund-*.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.gateway.provider import current_gateway
from app.payments import refund_worker
from tests.support.api import ApiClient
from tests.support.browser import VIEWPORTS, fits_the_viewport, log_in, shoot
from tests.support.invoices import invoice_number_of
from tests.support.outbox import refund_now

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_refund_reads_requested_then_returned(
    new_context, live_server, live_app, factory, viewport
):
    size = VIEWPORTS[viewport]
    patient, staff = factory.patient(name="Maria Santos"), factory.staff(name="Rosa Reyes")
    consultation = factory.consultation(patient, fee="5000", doctor="Dr. Ana Cruz")
    api = ApiClient(live_app)
    payment_id = api.new_payment(patient, consultation, method="stripe")
    assert api.confirm(staff, payment_id, transaction_id=f"sbx_txn_{payment_id}").status_code == 200
    refund_now(live_app, payment_id, "Doctor unavailable on the day")
    number = invoice_number_of(live_app, payment_id)
    mine = new_context(base_url=live_server.url, viewport=size).new_page()
    log_in(mine, patient)
    desk = new_context(base_url=live_server.url, viewport=size).new_page()
    log_in(desk, staff, "/staff/invoices")
    for moment in ("requested", "returned"):
        mine.goto(f"/payments/{payment_id}")
        # The payment page titles its next-step card "Refund" once the payment is refunded.
        step = mine.get_by_role("region", name="Refund", exact=True)
        words = (
            "is on its way back"
            if moment == "requested"
            else "The payment provider returned this payment"
        )
        expect(step).to_contain_text(words)
        fits_the_viewport(mine, size["width"])
        shoot(mine, f"refund-{moment}-patient-{viewport}")
        desk.goto(f"/staff/invoices/{number}")
        card = desk.get_by_role("region", name="Refund at the payment provider")
        expect(card).to_contain_text(
            "Requested." if moment == "requested" else "Returned to the patient."
        )
        # The staff page's history table may scroll sideways on a phone; this card does not.
        box = card.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
        shoot(desk, f"refund-{moment}-staff-{viewport}")
        if moment == "requested":
            desk.goto("/staff/attention")
            section = desk.locator("#refunds-not-returned")
            expect(section).to_contain_text(number)
            box = section.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
            shoot(desk, f"refund-attention-{viewport}")
            with live_app.app_context():
                assert refund_worker.send_pending(current_gateway()).total >= 1
