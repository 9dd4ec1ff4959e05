"""The invoice PDF a cashier hands a patient carries every field of a VAT invoice for
services (docs/invoices.md): its text, read back with pypdf, is checked field by field."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.models import Invoice, Payment, User
from tests.support.api import ApiClient
from tests.support.auth import AuthActions


def _pdf_text(client, number: str) -> str:
    response = client.get(f"/staff/invoices/{number}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    assert reader.pages[0].mediabox.width == pytest.approx(595.3, abs=1)  # A4, in points
    # Collapse the layout's line breaks and spacing: the fields are checked as words.
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def _paid_invoice(app, api, staff, patient, consultation) -> str:
    """The payment reference of a captured payment's invoice (the PDF's address)."""
    payment_id = api.new_payment(patient, consultation)
    assert api.confirm(staff, payment_id, transaction_id=f"txn_pdf_{payment_id}").status_code == 200
    with app.app_context():
        return db.session.get(Payment, payment_id).invoice.invoice_number


def _serial(app, number: str) -> str:
    """The sales invoice serial issued at the capture of the invoice with reference ``number``."""
    with app.app_context():
        return db.session.execute(
            select(Invoice.serial_number).where(Invoice.invoice_number == number)
        ).scalar_one()


def _with_billing(app, patient) -> None:
    with app.app_context():
        user = db.session.get(User, patient.id)
        user.billing_address, user.tin = "45 Mabini St, Manila", "123-456-789-00000"
        db.session.commit()


def test_a_senior_citizens_invoice_pdf_has_every_required_field(app, api, runner, factory, staff):
    # given a senior citizen with a billing address and TIN, and a ₱1,120.00 consultation
    patient = factory.patient(name="Remedios Cruz")
    _with_billing(app, patient)
    consultation = factory.consultation(patient, fee="1120", doctor="Dr. Ana Cruz")
    card = ["--kind", "senior_citizen", "--id-number", "QC-2019-0042", "--name", "Remedios Cruz"]
    assert runner.invoke(args=["users", "set-discount", patient.email, *card]).exit_code == 0
    number = _paid_invoice(app, api, staff, patient, consultation)
    # when staff download its PDF
    text = _pdf_text(AuthActions(app).session_for(staff), number)
    # then every field is in it
    fields = {
        "registered name": "Demo Family Clinic",
        "business style": "Demo Family Clinic Medical Services",
        "address": "123 Demo Street, Barangay Sample, Quezon City 1100, Philippines",
        "VAT Reg. TIN with branch code": "VAT Reg. TIN 000-123-456-00000",
        "serial": f"Sales invoice No. {_serial(app, number)}",
        "payment reference": f"Payment reference {number}",
        "date": "Issued",
        "buyer's name": "Remedios Cruz",
        "buyer's address": "45 Mabini St, Manila",
        "buyer's TIN": "123-456-789-00000",
        "description": "Consultation with Dr. Ana Cruz",
        "quantity column": "Quantity",
        "unit price column": "Unit price",
        "unit price and amount": "₱1,120.00 ₱1,120.00",
        "VAT removed": "Less: VAT −₱120.00",
        "VATable sales": "VATable sales ₱0.00",
        "VAT-exempt sales": "VAT-exempt sales ₱1,000.00",
        "zero-rated sales": "Zero-rated sales ₱0.00",
        "VAT": "VAT (12%) ₱0.00",
        "discount": "Less: Senior citizen discount (20%) −₱200.00",
        "total": "₱800.00",
        "discount holder and ID": "granted to Remedios Cruz, ID number QC-2019-0042",
        "computerized invoicing": "Computerized invoicing: Acknowledgement Certificate No.",
    }
    missing = {name: value for name, value in fields.items() if value not in text}
    assert not missing, (missing, text)


def test_a_full_price_invoice_pdf_shows_the_vat_breakdown(app, api, factory, staff):
    patient = factory.patient(name="Jose Reyes")
    number = _paid_invoice(app, api, staff, patient, factory.consultation(patient, fee="1250"))
    text = _pdf_text(AuthActions(app).session_for(staff), number)
    for field in ("VATable sales ₱1,116.07", "VAT-exempt sales ₱0.00", "VAT (12%) ₱133.93",
                  "Discounts ₱0.00", "₱1,250.00"):  # fmt: skip
        assert field in text, (field, text)
    assert "Buyer TIN" not in text  # none given


def test_a_non_vat_clinics_invoice_pdf_says_so_and_shows_no_vat(make_app, factory):
    app = make_app(CLINIC_VAT_REGISTERED=False)
    api, staff, patient = ApiClient(app), factory.staff(), factory.patient()
    number = _paid_invoice(app, api, staff, patient, factory.consultation(patient, fee="1120"))
    text = _pdf_text(AuthActions(app).session_for(staff), number)
    assert "Non-VAT Reg. TIN 000-123-456-00000" in text
    assert "This document is not valid for claim of input tax." in text
    for vat_line in ("VATable sales", "VAT-exempt sales", "Zero-rated sales", "VAT (12%)"):
        assert vat_line not in text


def test_an_unknown_invoice_has_no_pdf(app, staff):
    client = AuthActions(app).session_for(staff)
    assert client.get("/staff/invoices/INV-20260101000000-999.pdf").status_code == 404
    assert client.get("/staff/invoices/nonsense.pdf").status_code == 404


def test_patients_cannot_download_invoice_pdfs(app, api, factory, staff):
    patient = factory.patient()
    number = _paid_invoice(app, api, staff, patient, factory.consultation(patient))
    assert (
        AuthActions(app).session_for(patient).get(f"/staff/invoices/{number}.pdf").status_code
        == 403
    )
