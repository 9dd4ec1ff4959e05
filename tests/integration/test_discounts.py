"""Senior citizen and PWD discounts end to end: staff record the card, the checkout and the
API charge the discounted amount, the invoice and the BIR's discount log show it."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DiscountCard, Payment, SaleDiscount
from tests.support.auth import AuthActions
from tests.support.checkout import checkout_url, pay
from tests.support.html import hidden_inputs


@pytest.fixture
def patient(factory):
    return factory.patient(name="Lola Remedios")


@pytest.fixture
def consultation(factory, patient):
    """₱1,120.00 with 12% VAT in it: the regulations' example."""
    return factory.consultation(patient, fee="1120", doctor="Dr. Ana Cruz")


@pytest.fixture
def staff_client(app, staff):
    return AuthActions(app).session_for(staff)


def set_discount(runner, patient, *args: str):
    return runner.invoke(args=["users", "set-discount", patient.email, *args])


SENIOR = ("--kind", "senior_citizen", "--id-number", "QC-2019-0042", "--name", "Remedios Cruz")


def _card(app, patient) -> DiscountCard | None:
    with app.app_context():
        card = db.session.get(DiscountCard, patient.id)
        db.session.expunge_all()
        return card


def test_the_cli_records_a_card_and_the_checkout_charges_800_of_1120(
    app, runner, api, patient, patient_client, staff, consultation
):
    # given staff saw the patient's OSCA ID
    result = set_discount(runner, patient, *SENIOR)
    assert result.exit_code == 0, result.output
    # when the patient opens the checkout and pays
    page = patient_client.get(checkout_url(consultation)).text
    assert re.search(r"Amount to pay</th>\s*<td[^>]*>₱800\.00<", page)
    assert "Senior citizen discount for Remedios Cruz (ID QC-2019-0042)" in page
    payment_id = pay(patient_client, consultation, method="gcash")
    # then the payment asks for ₱800.00 and keeps what the invoice shows
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        granted = db.session.get(SaleDiscount, payment_id)
        assert payment.amount == Decimal("800.00")
        assert payment.invoice.amount == Decimal("800.00")
        assert (payment.tax_record.amount, payment.tax_record.taxable_base) == (0, 0)
        assert (granted.kind, granted.id_number, granted.holder_name) == (
            "senior_citizen", "QC-2019-0042", "Remedios Cruz",
        )  # fmt: skip
        assert (granted.gross, granted.vat_exempt_sales, granted.discount, granted.net) == (
            Decimal("1120.00"), Decimal("1000.00"), Decimal("200.00"), Decimal("800.00"),
        )  # fmt: skip
        number = payment.invoice.invoice_number
    assert api.confirm(staff, payment_id, transaction_id="txn_sc_1").status_code == 200
    invoice = AuthActions(app).session_for(staff).get(f"/staff/invoices/{number}").text
    for field in ("VAT-exempt sales", "₱1,000.00", "Less: Senior citizen discount (20%)",
                  "−₱200.00", "₱800.00", "QC-2019-0042", "Remedios Cruz", "Less: VAT",
                  "−₱120.00"):  # fmt: skip
        assert field in invoice, field


def test_the_api_amount_must_be_the_discounted_total(app, runner, api, patient, consultation):
    assert (
        set_discount(
            runner, patient, "--kind", "pwd", "--id-number", "PWD-1", "--name", "R C"
        ).exit_code
        == 0
    )
    # the full fee is refused, naming the discounted one
    refused = api.pay(patient, consultation, key="k-full", amount="1120.00")
    assert refused.status_code == 422
    assert refused.json["errors"]["amount"] == "Must equal the discounted fee (800.00)."
    # the discounted amount, below the smallest fee, is accepted
    created = api.pay(patient, consultation, key="k-800", amount="800.00")
    assert created.status_code == 201, created.json
    assert created.json["data"]["payment"]["amount"] == "800.00"


def test_clearing_the_card_brings_back_the_full_fee_and_leaves_made_sales_alone(
    app, runner, api, patient, factory, consultation
):
    set_discount(runner, patient, *SENIOR)
    first = api.new_payment(patient, consultation)
    result = set_discount(runner, patient, "--clear")
    assert result.exit_code == 0 and "Cleared" in result.output
    assert _card(app, patient) is None
    later = factory.consultation(patient, fee="1120")
    second = api.new_payment(patient, later)
    with app.app_context():
        assert db.session.get(Payment, first).amount == Decimal("800.00")
        assert db.session.get(SaleDiscount, first) is not None
        assert db.session.get(Payment, second).amount == Decimal("1120.00")
        assert db.session.get(SaleDiscount, second) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kind", "student", "--id-number", "1", "--name", "A"), "Invalid value for '--kind'"),
        (("--kind", "pwd", "--id-number", "<script>", "--name", "A"), "id_number"),
        (("--kind", "pwd", "--id-number", "123", "--name", "   "), "holder_name"),
        (("--kind", "pwd"), "id_number"),
        (("--clear", "--kind", "pwd"), "--clear takes no"),
    ],
)
def test_the_cli_refuses_bad_cards_and_records_nothing(app, runner, patient, args, message):
    result = set_discount(runner, patient, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert _card(app, patient) is None


def test_the_cli_refuses_staff_and_strangers(app, runner, staff):
    assert (
        "No patient with email"
        in runner.invoke(args=["users", "set-discount", staff.email, *SENIOR]).output
    )
    assert (
        "No patient with email"
        in runner.invoke(args=["users", "set-discount", "nobody@example.test", *SENIOR]).output
    )


def _form(client, path="/staff/discounts") -> str:
    return hidden_inputs(client.get(path).text)["csrf_token"]


def test_staff_record_and_remove_a_card_on_their_page(app, staff_client, patient):
    token = _form(staff_client)
    data = {"csrf_token": token, "email": patient.email, "kind": "pwd",
            "id_number": "PWD-13-7604", "holder_name": "Remedios Cruz"}  # fmt: skip
    response = staff_client.post("/staff/discounts", data=data)
    assert response.status_code == 303
    page = staff_client.get("/staff/discounts").text
    assert "PWD-13-7604" in page and patient.email in page
    assert _card(app, patient).kind == "pwd"
    cleared = staff_client.post(
        "/staff/discounts/clear", data={"csrf_token": token, "email": patient.email}
    )
    assert cleared.status_code == 303
    assert _card(app, patient) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "nobody@example.test", "No patient has this email."),
        ("id_number", "=HYPERLINK(1)", "Enter the ID number as printed"),
        ("kind", "student", "Not a valid choice"),
        ("holder_name", "", "This field is required."),
    ],
)
def test_the_staff_page_refuses_bad_input_with_a_reason_and_records_nothing(
    app, staff_client, patient, field, value, message
):
    data = {"csrf_token": _form(staff_client), "email": patient.email, "kind": "senior_citizen",
            "id_number": "QC-1", "holder_name": "Remedios Cruz", field: value}  # fmt: skip
    response = staff_client.post("/staff/discounts", data=data)
    assert response.status_code == 422
    assert message in response.text
    assert _card(app, patient) is None


def test_patients_cannot_see_or_use_the_discount_pages(patient_client):
    for path in ("/staff/discounts", "/staff/discounts/log", "/staff/discounts/log.csv"):
        assert patient_client.get(path).status_code == 403


def test_the_discount_log_lists_each_discounted_sale_for_the_bir(
    app, runner, api, patient, staff, staff_client, consultation, factory
):
    # given one discounted sale captured and one full-price sale
    set_discount(runner, patient, *SENIOR)
    sold = api.new_payment(patient, consultation)
    assert api.confirm(staff, sold, transaction_id="txn_log_1").status_code == 200
    pending = api.new_payment(patient, factory.consultation(patient, fee="2240"))
    other = factory.patient()
    full = api.new_payment(other, factory.consultation(other, fee="1120"))
    assert api.confirm(staff, full, transaction_id="txn_log_2").status_code == 200
    # when staff read the log as CSV
    rows = list(csv.DictReader(io.StringIO(staff_client.get("/staff/discounts/log.csv").text)))
    # then only the captured discounted sale is in it, with every column the BIR asks for
    [row] = rows
    with app.app_context():
        number = db.session.get(Payment, sold).invoice.serial_number  # the sales invoice's
        assert db.session.scalar(select(SaleDiscount.net).where(SaleDiscount.payment_id == pending))
    assert (row["invoice"], row["holder_name"], row["id_number"], row["kind"]) == (
        number, "Remedios Cruz", "QC-2019-0042", "senior_citizen",
    )  # fmt: skip
    assert (row["gross"], row["vat_exempt_sales"], row["discount"], row["net"]) == (
        "1120.00", "1000.00", "200.00", "800.00",
    )  # fmt: skip
    assert row["date"].endswith("+08:00")
    page = staff_client.get("/staff/discounts/log").text
    assert number in page and "₱200.00" in page


def test_a_bad_log_period_is_refused(staff_client):
    assert staff_client.get("/staff/discounts/log?from=2026-12-31&to=2026-12-01").status_code == 400
    assert staff_client.get("/staff/discounts/log?from=yesterday").status_code == 400
    assert staff_client.get("/staff/discounts/log.csv?to=2026-13-01").status_code == 400


def test_a_clinic_that_is_not_vat_registered_charges_no_vat_and_says_so(make_app, factory, staff):
    app = make_app(CLINIC_VAT_REGISTERED=False)
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="1120")
    client = AuthActions(app).session_for(patient)
    payment_id = pay(client, consultation, method="gcash")
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        assert payment.amount == Decimal("1120.00")
        number = payment.invoice.invoice_number
    invoice = AuthActions(app).session_for(staff).get(f"/staff/invoices/{number}").text
    assert "Non-VAT Reg. TIN 000-123-456-00000" in invoice
    assert "This document is not valid for claim of input tax." in invoice
    for vat_line in ("VATable sales", "VAT-exempt sales", "Zero-rated sales", "VAT (12%)"):
        assert vat_line not in invoice


def test_the_api_returns_the_invoice_fields_with_the_discount(
    app, runner, api, patient, consultation
):
    set_discount(runner, patient, *SENIOR)
    payment_id = api.new_payment(patient, consultation)
    fields = api.get(patient, payment_id).json["data"]["invoice_fields"]
    assert fields["seller"]["tin_label"] == "VAT Reg. TIN"
    assert fields["seller"]["tin"] == "000-123-456-00000"
    assert fields["seller"]["business_style"] == "Demo Family Clinic Medical Services"
    assert fields["buyer"] == {"name": "Lola Remedios", "address": None, "tin": None}
    assert fields["lines"] == [
        {"description": "Consultation with Dr. Ana Cruz", "quantity": 1,
         "unit_price": "1120.00", "amount": "1120.00"}
    ]  # fmt: skip
    assert (fields["vatable_sales"], fields["vat_exempt_sales"], fields["zero_rated_sales"]) == (
        "0.00", "1000.00", "0.00",
    )  # fmt: skip
    assert (fields["vat"], fields["discount"], fields["total"]) == ("0.00", "200.00", "800.00")
    assert fields["discount_holder"] == {
        "kind": "senior_citizen", "id_number": "QC-2019-0042", "name": "Remedios Cruz",
    }  # fmt: skip
    assert fields["computerized_invoicing"].startswith("Acknowledgement Certificate No.")
