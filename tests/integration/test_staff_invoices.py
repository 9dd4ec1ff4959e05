"""Staff invoice pages on PostgreSQL: who may see them, filters, totals, pages, CSV, history."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.invoices.filters import Cursor
from app.models import GatewayEvent, PaymentEvent
from app.payments import service
from app.payments.requests import parse_payment_request
from tests.support.auth import AuthActions
from tests.support.factory import Factory
from tests.support.invoices import InvoiceSpec, add_event, add_invoice, add_invoices, rows
from tests.support.queries import counting_queries

NOV = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def patient_a(factory):
    return factory.patient(name="Maria Santos", email="maria@example.test")


@pytest.fixture
def patient_b(factory):
    return factory.patient(name="Jose Reyes", email="jose@example.test")


@pytest.fixture
def staff(factory):
    return factory.staff(name="Clinic Staff")


@pytest.fixture
def staff_client(app, staff):
    return AuthActions(app).client_for(staff)


# --- who may see the pages -------------------------------------------------------------

STAFF_URLS = [
    "/staff/invoices",
    # a page reached by Older: the invoices issued before the year 2999
    "/staff/invoices?status=paid&page=" + Cursor(datetime(2999, 1, 1, tzinfo=UTC), 1).token(),
    "/staff/invoices/{number}",
    "/staff/invoices.csv",
    "/staff/invoices.csv?method=gcash",
    "/staff/attention",
]


@pytest.fixture
def visitors(app, patient_a, patient_b, staff):
    """A test client per kind of visitor, and an invoice that belongs to patient A."""
    number = add_invoice(app, patient_a, status="paid")
    clients = {
        "anonymous": app.test_client(),
        "patient A (owner)": AuthActions(app).client_for(patient_a),
        "patient B": AuthActions(app).client_for(patient_b),
        "staff": AuthActions(app).client_for(staff),
    }
    return clients, number


EXPECTED = {"anonymous": 302, "patient A (owner)": 403, "patient B": 403, "staff": 200}


@pytest.mark.parametrize("url", STAFF_URLS)
def test_only_staff_may_open_each_staff_page(visitors, url):
    clients, number = visitors
    path = url.format(number=number)
    for who, client in clients.items():
        # when
        response = client.get(path)
        # then
        assert response.status_code == EXPECTED[who], (who, path)
        if who == "anonymous":
            assert response.headers["Location"].startswith("/login?next=%2Fstaff%2F")
        if who.startswith("patient"):
            assert number not in response.text
            assert "maria@example.test" not in response.text


def test_an_unknown_invoice_is_404_for_staff_and_403_for_patients(visitors):
    clients, _ = visitors
    assert clients["staff"].get("/staff/invoices/INV-20260101000000-999").status_code == 404
    assert clients["staff"].get("/staff/invoices/bad%00number").status_code == 404
    assert clients["staff"].get("/staff/invoices/" + "9" * 65).status_code == 404
    assert clients["patient B"].get("/staff/invoices/INV-20260101000000-999").status_code == 403


def test_staff_see_the_invoice_links_in_the_navigation_and_patients_do_not(visitors):
    clients, _ = visitors
    staff_page = clients["staff"].get("/staff/invoices").text
    assert 'href="/staff/invoices">Invoices</a>' in staff_page
    assert 'href="/staff/attention">Needs attention</a>' in staff_page
    assert "/staff/invoices" not in clients["patient A (owner)"].get("/").text


def test_staff_pages_are_not_kept_in_shared_caches(visitors):
    clients, number = visitors
    for url in ("/staff/invoices", f"/staff/invoices/{number}", "/staff/attention"):
        assert clients["staff"].get(url).headers["Cache-Control"] == "private, no-store"


# --- the list: rows, filters, totals, pages ---------------------------------------------


def test_the_list_shows_each_invoice_with_patient_consultation_pesos_status_and_dates(
    app, staff_client, patient_a
):
    # given
    number = add_invoice(
        app, patient_a, status="paid", fee="5000", doctor="Dr. Liza Mercado", issued_at=NOV
    )
    # when
    response = staff_client.get("/staff/invoices")
    # then
    assert response.status_code == 200
    html = response.text
    row = html.split(f'tr data-invoice-number="{number}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/staff/invoices/{number}"' in row
    assert "Maria Santos" in row and "maria@example.test" in row
    assert "Dr. Liza Mercado" in row and "2 Nov 2026" in row
    assert "₱5,000.00" in row
    assert '<span class="badge badge-paid">Paid</span>' in row
    assert "1 Nov 2026, 17:00 +08:00</time>" in row  # issued 09:00 UTC, in clinic time
    assert "1 Nov 2026, 17:05 +08:00</time>" in row  # paid


def test_the_list_is_newest_first(app, staff_client, patient_a):
    numbers = add_invoices(
        app, patient_a, [InvoiceSpec(issued_at=NOV + timedelta(days=d)) for d in (3, 1, 2)]
    )
    assert rows(staff_client.get("/staff/invoices")) == [numbers[0], numbers[2], numbers[1]]


@pytest.fixture
def mixed(app, patient_a, patient_b):
    """Six invoices over November: statuses, methods and patients mixed."""
    a = add_invoices(
        app,
        patient_a,
        [
            InvoiceSpec(status="paid", method="gcash", fee="5000", issued_at=NOV),
            InvoiceSpec(
                status="paid", method="stripe", fee="1500", issued_at=NOV + timedelta(days=5)
            ),
            InvoiceSpec(
                status="pending",
                method="gcash",
                fee="2750.50",
                issued_at=datetime(2026, 11, 11, 23, 59, tzinfo=UTC),
            ),
        ],
    )
    b = add_invoices(
        app,
        patient_b,
        [
            InvoiceSpec(
                status="refunded",
                method="bank_transfer",
                fee="3000",
                issued_at=NOV + timedelta(days=11),
            ),
            InvoiceSpec(
                status="void", method="e_wallet", fee="1000", issued_at=NOV + timedelta(days=20)
            ),
            InvoiceSpec(
                status="paid", method="gcash", fee="1200", issued_at=NOV + timedelta(days=25)
            ),
        ],
    )
    return a + b


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=paid", [5, 1, 0]),
        ("status=PAID", [5, 1, 0]),
        ("method=gcash", [5, 2, 0]),
        ("status=paid&method=gcash", [5, 0]),
        # Clinic days (Asia/Manila): 11-11 23:59 UTC is 11-12 07:59 at the clinic.
        ("issued_from=2026-11-06&issued_to=2026-11-11", [1]),  # both ends inclusive
        ("issued_from=2026-11-12", [5, 4, 3, 2]),
        ("issued_from=2026-11-12&issued_to=2026-11-12", [3, 2]),
        ("issued_to=2026-11-06", [1, 0]),
        ("patient=MARIA", [2, 1, 0]),
        ("patient=jose@example", [5, 4, 3]),
        ("patient=%25", []),  # a literal percent sign, not a wildcard
        ("patient=example.test&method=gcash", [5, 2, 0]),
    ],
)
def test_filters_narrow_the_list(staff_client, mixed, query, expected):
    response = staff_client.get(f"/staff/invoices?{query}")
    assert response.status_code == 200
    assert rows(response) == [mixed[i] for i in expected]


def test_an_invoice_number_finds_exactly_that_invoice_in_any_case(staff_client, mixed):
    response = staff_client.get(f"/staff/invoices?number={mixed[3].lower()}")
    assert rows(response) == [mixed[3]]


def test_totals_show_collected_outstanding_and_refunded_apart_and_count_void(staff_client, mixed):
    # when
    everything = staff_client.get("/staff/invoices").text
    gcash = staff_client.get("/staff/invoices?method=gcash").text
    # then money is never added across statuses: no grand total of paid + pending + void
    assert 'data-total-count="6"' in everything
    assert "₱14,450.50" not in everything and "₱13,450.50" not in everything
    assert _total(everything, "collected") == ("3", "₱7,700.00")
    assert _total(everything, "outstanding") == ("1", "₱2,750.50")
    assert _total(everything, "refunded") == ("1", "₱3,000.00")
    # void is counted, not summed into money
    void = _item(everything, "void")
    assert '<span class="count">1</span>' in void and "₱" not in void
    assert 'data-total-count="3"' in gcash
    assert _total(gcash, "collected") == ("2", "₱6,200.00")
    assert _total(gcash, "refunded") == ("0", "₱0.00")
    assert '<span class="count">0</span>' in _item(gcash, "void")


def test_a_void_invoice_the_provider_charged_anyway_is_money_to_refund_not_not_collected(
    app, staff_client, mixed
):
    # given the void invoice's payment was charged by the provider after it was cancelled
    void_number = rows(staff_client.get("/staff/invoices?status=void"))[0]
    add_event(app, void_number, "duplicate_charge", actor="gateway:sandbox", amount="1200.00")
    # when
    everything = staff_client.get("/staff/invoices").text
    # then it is no longer counted as "not collected", but as money to give back
    assert '<span class="count">0</span>' in _item(everything, "void")
    charged = _item(everything, "charged-void")
    assert "Charged after cancel — to refund" in charged
    count, amount = _total(everything, "charged-void")
    assert count == "1" and amount.startswith("₱")
    assert 'data-total-count="6"' in everything
    # and the other totals are unchanged
    assert _total(everything, "collected") == ("3", "₱7,700.00")
    # a filter without it shows no such line
    assert 'data-total="charged-void"' not in staff_client.get("/staff/invoices?method=gcash").text


def _item(html: str, kind: str) -> str:
    return html.split(f'data-total="{kind}">', 1)[1].split("</li>", 1)[0]


def _total(html: str, kind: str) -> tuple[str, str]:
    item = _item(html, kind)
    count = item.split('<span class="count">', 1)[1].split("<", 1)[0]
    amount = item.split('<span class="amount">', 1)[1].split("<", 1)[0]
    return count, amount


def test_the_filter_form_keeps_what_was_asked(staff_client, mixed):
    html = staff_client.get("/staff/invoices?status=void&patient=jose&issued_from=2026-11-02").text
    assert '<option value="void" selected>' in html
    assert 'placeholder="Name or email" value="jose"' in html
    assert re.search(r'name="issued_from" [^>]*value="2026-11-02"', html)
    assert (
        'href="/staff/invoices.csv?status=void&amp;issued_from=2026-11-02&amp;patient=jose"' in html
    )


def link(response, rel: str) -> str | None:
    """The href of the results' ``rel`` link (next, prev, first), unescaped; None if absent."""
    found = re.search(rf'rel="{rel}" href="([^"]+)"', response.text)
    return found.group(1).replace("&amp;", "&") if found else None


def test_pages_hold_fifty_invoices_and_links_keep_the_filter(app, staff_client, patient_a):
    # given 120 paid invoices, one a minute, five issued at one instant across the first page's end, and one
    # pending
    specs = [InvoiceSpec(status="paid", issued_at=NOV + timedelta(minutes=m)) for m in range(115)]
    specs += [InvoiceSpec(status="paid", issued_at=NOV + timedelta(minutes=66.5))] * 5
    numbers = add_invoices(app, patient_a, specs)
    add_invoice(app, patient_a, status="pending", issued_at=NOV + timedelta(days=2))
    with app.app_context():
        newest_first = [
            number
            for (number,) in db.session.execute(
                text(
                    "SELECT reference FROM invoices WHERE status = 'paid'"
                    " ORDER BY issued_at DESC, id DESC"
                )
            )
        ]
    assert sorted(newest_first) == sorted(numbers)
    # when the Older links are followed to the end, and the Newer links back
    first = staff_client.get("/staff/invoices?status=paid")
    second = staff_client.get(link(first, "next"))
    third = staff_client.get(link(second, "next"))
    back = staff_client.get(link(third, "prev"))
    # then each page holds the next fifty, ties broken by id, none twice, none left out
    assert rows(first) == newest_first[:50]
    assert rows(second) == newest_first[50:100]
    assert rows(third) == newest_first[100:]
    assert rows(back) == newest_first[50:100]
    assert rows(staff_client.get(link(back, "prev"))) == newest_first[:50]
    # the links keep the filter, the first page has no Newer, the last no Older
    assert link(first, "next").startswith("/staff/invoices?page=o")
    assert link(first, "next").endswith("&status=paid")
    assert link(first, "prev") is None
    assert link(third, "next") is None
    assert link(third, "first") == "/staff/invoices?status=paid"
    # the first page has the totals, the others say where they are
    assert "data-total-count" in first.text
    assert "data-total-count" not in second.text
    assert "totals are on" in second.text


def test_a_cursor_with_nothing_on_its_side_sends_to_the_first_page(app, staff_client, patient_a):
    # given one paid invoice
    add_invoice(app, patient_a, status="paid", issued_at=NOV)
    # when a page older than anything is asked for (a bookmark after the rows changed)
    older = Cursor(datetime(2001, 1, 1, tzinfo=UTC), 1, older=True)
    newer = Cursor(datetime(2998, 1, 1, tzinfo=UTC), 1, older=False)
    for cursor in (older, newer):
        response = staff_client.get(f"/staff/invoices?status=paid&page={cursor.token()}")
        # then
        assert response.status_code == 302
        assert response.headers["Location"] == "/staff/invoices?status=paid"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=unpaid", "Status: Choose one of the options in the list."),
        ("method=cash", "Payment method: Choose one of the options in the list."),
        ("issued_from=2026-13-01", "Issued from: Use a date such as 2026-11-26"),
        ("issued_from=26/11/2026", "Issued from: Use a date such as 2026-11-26"),
        ("issued_to=9999-12-31", "Issued to: Use a date between 2000-01-01 and 2999-12-31."),
        (
            "issued_from=2026-11-20&issued_to=2026-11-01",
            "Issued to: The end date is before the start date.",
        ),
        ("patient=%00", "Patient: Remove the control characters"),
        ("patient=" + "x" * 121, "Patient: Use at most 120 characters."),
        ("number=INV%27%3B--", "Invoice number: Type the start of an invoice number"),
        ("page=2", "Page: This page link is damaged: start again from the newest invoices."),
        ("page=o17641.x", "Page: This page link is damaged"),
        ("page=o%D9%A3.1", "Page: This page link is damaged"),
        ("page=o0.1", "Page: This page link is damaged"),
    ],
)
def test_an_unusable_filter_value_gets_a_clear_400_not_a_500(staff_client, mixed, query, message):
    response = staff_client.get(f"/staff/invoices?{query}")
    assert response.status_code == 400
    assert "These filter values cannot be used" in response.text
    assert message in response.text.replace("&#39;", "'")
    assert rows(response) == []


def test_every_problem_in_a_filter_is_reported_at_once(staff_client):
    response = staff_client.get("/staff/invoices?status=x&method=y&issued_from=z&page=0")
    assert response.status_code == 400
    for label in ("Status:", "Payment method:", "Issued from:", "Page:"):
        assert label in response.text


def test_an_htmx_filter_request_gets_only_the_results_fragment(staff_client, mixed):
    # given the headers htmx sends when the filter form targets the results
    headers = {"HX-Request": "true", "HX-Target": "invoice-results"}
    # when
    fragment = staff_client.get("/staff/invoices?status=refunded", headers=headers)
    restore = staff_client.get(
        "/staff/invoices?status=refunded",
        headers={**headers, "HX-History-Restore-Request": "true"},
    )
    bad = staff_client.get("/staff/invoices?status=nope", headers=headers)
    # then
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<form" not in fragment.text
    assert rows(fragment) == [mixed[3]]
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" in restore.text  # history restore needs the whole page
    assert bad.status_code == 400 and "<html" not in bad.text and "Status:" in bad.text


def test_the_filter_form_works_with_and_without_javascript(staff_client):
    html = staff_client.get("/staff/invoices").text
    form = html.split('<form id="invoice-filters" class="card filters', 1)[1].split(">", 1)[0]
    assert 'method="get" action="/staff/invoices"' in form
    assert 'hx-get="/staff/invoices"' in form
    assert 'hx-target="#invoice-results"' in form and 'hx-trigger="submit, change"' in form
    assert 'hx-history="false"' in html  # patient data stays out of localStorage


# --- CSV ------------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_the_csv_export_has_a_header_and_one_row_per_invoice_of_the_filter(
    app, staff_client, mixed
):
    # when
    response = staff_client.get("/staff/invoices.csv?status=paid")
    # then
    assert response.status_code == 200
    assert response.is_streamed
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="invoices-')
    text = response.get_data(as_text=True)
    # a byte-order mark first, so Excel on Windows reads the file as UTF-8
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    assert text.splitlines()[0] == (
        "\ufeffinvoice_number,issued_at,paid_at,invoice_status,amount,currency,vat_rate,vatable_amount,vat_amount,"
        "payment_method,payment_status,transaction_id,patient_name,patient_email,doctor,"
        "consultation_at,refunded_amount,charges_to_refund,charge_transaction_id"
    )
    records = read_csv(response)
    assert [r["invoice_number"] for r in records] == [mixed[5], mixed[1], mixed[0]]
    first = records[2]
    assert first == {
        "invoice_number": mixed[0],
        "issued_at": "2026-11-01T17:00:00+08:00",
        "paid_at": "2026-11-01T17:05:00+08:00",
        "invoice_status": "paid",
        "amount": "5000.00",
        "currency": "PHP",
        "vat_rate": "0.12",
        "vatable_amount": "4464.29",
        "vat_amount": "535.71",
        "payment_method": "gcash",
        "payment_status": "completed",
        "transaction_id": "",
        "patient_name": "Maria Santos",
        "patient_email": "maria@example.test",
        "doctor": "Dr. Ana Cruz",
        "consultation_at": "2026-11-02T17:00:00+08:00",
        "refunded_amount": "",
        "charges_to_refund": "",
        "charge_transaction_id": "",
    }


def test_the_csv_quotes_commas_and_quotes_and_defuses_formulas(app, factory, staff_client):
    # given a patient whose name has a comma and quotes, and one whose name is a formula
    quoted = factory.patient(name='Santos, Maria "Mia"')
    formula = factory.patient(name='=HYPERLINK("http://evil")')
    add_invoice(app, quoted, fee="2750.5", issued_at=NOV)
    add_invoice(app, formula, issued_at=NOV + timedelta(days=1))
    # when
    response = staff_client.get("/staff/invoices.csv")
    # then
    text = response.get_data(as_text=True)
    assert '"Santos, Maria ""Mia"""' in text
    records = read_csv(response)
    assert records[1]["patient_name"] == 'Santos, Maria "Mia"'
    assert records[1]["amount"] == "2750.50"
    assert records[0]["patient_name"] == '\'=HYPERLINK("http://evil")'
    assert "\r\n" in text  # RFC 4180 line ends


def test_the_csv_reads_in_excel_and_its_times_stop_at_the_second(app, factory, staff_client):
    # given a patient with an ñ, invoiced at a time with microseconds
    add_invoice(app, factory.patient(name="José Peña"), issued_at=NOV.replace(microsecond=123456))
    # when
    response = staff_client.get("/staff/invoices.csv")
    # then the bytes start with UTF-8's byte-order mark, and the time has no fraction
    body = response.get_data()
    assert body.startswith("\ufeff".encode()) and "José Peña".encode() in body
    [record] = read_csv(response)
    assert record["patient_name"] == "José Peña"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", record["issued_at"])


def test_the_csv_with_an_unusable_filter_is_a_400_page(staff_client):
    response = staff_client.get("/staff/invoices.csv?issued_from=yesterday")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Issued from: Use a date such as 2026-11-26" in response.text


def test_the_csv_of_an_empty_filter_is_just_the_header(staff_client, mixed):
    response = staff_client.get("/staff/invoices.csv?patient=nobody")
    assert response.get_data(as_text=True).count("\r\n") == 1


# --- one invoice ----------------------------------------------------------------------------


def test_the_invoice_page_shows_the_invoice_payment_and_vat_line(app, staff_client, patient_a):
    number = add_invoice(
        app,
        patient_a,
        status="paid",
        fee="5000",
        issued_at=NOV,
        method="gcash",
        transaction_id="gc_12345",
        receipt_url="https://pay.example/receipts/gc_12345",
    )
    html = staff_client.get(f"/staff/invoices/{number}").text
    sheet = html.split('<article class="card invoice-sheet"', 1)[1].split("</article>", 1)[0]
    # a paid invoice is its sales invoice serial; the payment reference is one of its facts
    assert "Sales invoice No. 000001" in sheet and f"<dd>{number}</dd>" in sheet
    assert "Maria Santos" in sheet and "maria@example.test" in sheet
    assert "Consultation with Dr. Ana Cruz" in sheet
    assert "₱5,000.00" in sheet
    assert re.search(r"VATable sales</th><td[^>]*>₱4,464.29<", sheet)
    assert re.search(r"VAT \(12%\)</th>\s*<td[^>]*>₱535.71<", sheet)
    assert re.search(r"Amount charged</th>\s*<td[^>]*>₱5,000.00<", sheet)
    assert "Demo Family Clinic" in sheet and "TIN 000-123-456-00000" in sheet  # who was paid
    assert '<span class="badge badge-paid">Paid</span>' in sheet
    assert "1 Nov 2026, 17:05 +08:00" in sheet  # paid, in clinic time
    assert "GCash" in sheet
    assert "/staff/" not in sheet  # the patient's page includes this partial as is
    assert "<code>gc_12345</code>" in html
    assert 'href="https://pay.example/receipts/gc_12345" rel="noopener noreferrer"' in html
    assert "data-print" in html and re.search(r"/static/js/print\.[0-9a-f]{12}\.js", html)
    assert "<script>" not in html  # CSP: no inline script


def test_a_receipt_url_that_is_not_a_web_address_is_not_a_link(app, staff_client, patient_a):
    number = add_invoice(app, patient_a, receipt_url="javascript:alert(1)")
    html = staff_client.get(f"/staff/invoices/{number}").text
    assert 'href="javascript:' not in html
    assert "javascript:alert(1)" in html


def test_the_history_shows_real_attempts_and_every_event_type_with_a_label(
    app, factory, staff_client, patient_a
):
    # given a payment made through the service, repeated (same key) and refused (no key):
    # repeats are not events (issue 19), so only "created" comes from the service
    consultation = factory.consultation(patient_a, fee="5000")
    with app.test_request_context():
        user = db.session.get(type(patient_a), patient_a.id)
        keyed = parse_payment_request(
            consultation_id=consultation.id, payment_method="stripe", idempotency_key="k-1"
        )
        first = service.create_payment(user, keyed)
        service.create_payment(user, keyed)
        service.create_payment(
            user, parse_payment_request(consultation_id=consultation.id, payment_method="stripe")
        )
    number = json.loads(first.body)["data"]["invoice"]["invoice_number"]
    with app.app_context():
        written = db.session.scalars(select(PaymentEvent.event_type)).all()
    assert written == ["created"]
    # and rows written before that decision, and events other parts of the app write
    add_event(app, number, "replayed", actor=f"user:{patient_a.id}", source="redis")
    add_event(app, number, "refused", actor=f"user:{patient_a.id}", reason="active_payment_exists")
    add_event(app, number, "confirmed", actor="gateway:sandbox", transaction_id="tx_1")
    add_event(app, number, "duplicate_charge", actor="gateway:sandbox", transaction_id="tx_2")
    add_event(app, number, "refunded", actor=f"user:{patient_a.id}", amount="5000.00")
    add_event(app, number, "chargeback_opened", actor="gateway:sandbox")
    # when
    html = staff_client.get(f"/staff/invoices/{number}").text
    # then every event is there, in order, with its label and actor
    history = html.split('<section class="card history', 1)[1]
    types = [p.split('"', 1)[0] for p in history.split('data-event-type="')[1:]]
    assert types == [
        "created",
        "replayed",
        "refused",
        "confirmed",
        "duplicate_charge",
        "refunded",
        "chargeback_opened",
    ]
    for label in (
        "Payment created",
        "Repeated request answered with the first result",
        "Another payment attempt refused",
        "Payment confirmed",
        "Duplicate charge flagged",
        "Refunded",
        "Chargeback opened",
    ):
        assert f"<td>{label}</td>" in history
    assert "Maria Santos (patient)" in history
    assert "Gateway (test provider)" in history
    assert "another payment is under way" in history and "active_payment_exists" not in history
    assert "tx_2" in history


# --- needs attention ----------------------------------------------------------------------


def test_attention_lists_duplicate_charges_stale_pending_and_unapplied_provider_reports(
    app, make_app, patient_a, staff
):
    # given a 30-minute pending TTL
    app = make_app(PAYMENT_PENDING_TTL=1800)
    client = AuthActions(app).client_for(staff)
    now = datetime.now(UTC)
    charged = add_invoice(app, patient_a, status="paid")
    add_event(
        app,
        charged,
        "duplicate_charge",
        actor="gateway:sandbox",
        transaction_id="tx_9",
        amount="5000.00",
        reason="already_completed",
    )
    stale = add_invoice(app, patient_a, status="pending", issued_at=now - timedelta(minutes=31))
    fresh = add_invoice(app, patient_a, status="pending", issued_at=now - timedelta(minutes=29))
    refused = add_invoice(app, patient_a, status="paid")
    with app.app_context():
        payment_id = _payment_id(refused)
        db.session.add_all(
            [
                GatewayEvent(
                    event_id="evt_bad",
                    event_type="payment.declined",
                    payment_id=payment_id,
                    body=b"{}",
                    outcome="refused",
                    note="Payment 4 is completed and cannot be declined.",
                ),
                GatewayEvent(
                    event_id="evt_ok",
                    event_type="payment.succeeded",
                    payment_id=payment_id,
                    body=b"{}",
                    outcome="confirmed",
                ),
            ]
        )
        db.session.commit()
    # when
    html = client.get("/staff/attention").text
    # then
    duplicates = _section(html, "duplicate-charges")
    pending = _section(html, "stale-pending")
    webhooks = _section(html, "webhook-failures")
    assert f'href="/staff/invoices/{charged}"' in duplicates
    assert "Refund ₱5,000.00 (transaction tx_9) at the payment provider." in duplicates
    assert "already paid by another transaction" in duplicates
    assert f'href="/staff/invoices/{stale}"' in pending
    assert fresh not in pending
    assert "more than 30 minutes" in pending and "PAYMENT_PENDING_TTL" not in html
    assert f'href="/staff/invoices/{refused}"' in webhooks
    assert "reported a decline for a payment that is paid" in webhooks
    assert webhooks.count('href="/staff/invoices/') == 1  # the applied event is not listed


def test_attention_says_so_when_nothing_needs_a_person(staff_client):
    html = staff_client.get("/staff/attention").text
    assert "No duplicate charges." in html
    assert "No amount mismatches." in html
    assert "No payments pending too long." in html
    assert "No other provider reports waiting." in html


def _payment_id(number: str) -> int:
    from app.models import Invoice

    return db.session.query(Invoice.payment_id).filter_by(invoice_number=number).scalar()


def _section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


# --- a fixed number of queries per page -------------------------------------------------------


def queries_for(app, client, url: str) -> int:
    with counting_queries(app) as statements:
        response = client.get(url)
        assert response.status_code == 200
    return len(statements)


def test_the_list_costs_the_same_number_of_queries_for_5_or_50_rows(
    app, staff_client, patient_a, patient_b
):
    # given 5 invoices
    add_invoices(app, patient_a, [InvoiceSpec(issued_at=NOV)] * 5)
    few = queries_for(app, staff_client, "/staff/invoices")
    # when there are 55 (a full page of 50), from two patients, in every status
    statuses = ["paid", "pending", "void", "refunded"]
    add_invoices(
        app, patient_b, [InvoiceSpec(status=statuses[i % 4], issued_at=NOV) for i in range(50)]
    )
    many = queries_for(app, staff_client, "/staff/invoices")
    # then
    assert len(rows(staff_client.get("/staff/invoices"))) == 50
    assert many == few == 3  # the user, the totals, the page


def test_the_invoice_page_costs_the_same_number_of_queries_for_1_or_30_events(
    app, staff_client, patient_a, patient_b
):
    quiet = add_invoice(app, patient_a)
    busy = add_invoice(app, patient_b)
    for n in range(29):
        add_event(app, busy, "replayed", actor=f"user:{patient_b.id if n % 2 else patient_a.id}")
    assert queries_for(app, staff_client, f"/staff/invoices/{quiet}") == queries_for(
        app, staff_client, f"/staff/invoices/{busy}"
    )


def test_attention_costs_the_same_number_of_queries_for_1_or_40_items(app, staff_client, patient_a):
    long_ago = datetime.now(UTC) - timedelta(days=2)
    add_invoice(app, patient_a, status="pending", issued_at=long_ago)
    few = queries_for(app, staff_client, "/staff/attention")
    add_invoices(app, patient_a, [InvoiceSpec(status="pending", issued_at=long_ago)] * 39)
    assert queries_for(app, staff_client, "/staff/attention") == few


# --- the SQLite default of `make dev` -------------------------------------------------------


def test_every_staff_page_works_on_the_sqlite_default(sqlite_app):
    # given the embedded setup `make dev` uses, with one invoice
    factory = Factory(sqlite_app)
    patient = factory.patient(name="Maria Santos")
    number = add_invoice(sqlite_app, patient, status="paid", issued_at=NOV)
    client = AuthActions(sqlite_app).client_for(factory.staff())
    # when / then
    listed = client.get("/staff/invoices?patient=maria&status=paid&issued_from=2026-11-01")
    assert rows(listed) == [number]
    assert client.get(f"/staff/invoices/{number}").status_code == 200
    assert client.get("/staff/attention").status_code == 200
    export = client.get("/staff/invoices.csv?patient=MARIA")
    assert [r["invoice_number"] for r in read_csv(export)] == [number]


@pytest.mark.parametrize(
    ("accept", "words"),
    [
        (
            "en",
            [
                "Method:</span> Bank transfer",
                "Status before:</span> pending",
                "Reason:</span> card declined",
                "Amount:</span> ₱5,000.00",
            ],
        ),
        (
            "fil",
            [
                "Paraan:</span> Bayad sa bangko (bank transfer)",
                "Dating katayuan:</span> nakabinbin",
                "Dahilan:</span> tinanggihan ang card",
                "Halaga:</span> ₱5,000.00",
            ],
        ),
    ],
)
def test_the_history_details_read_in_words_in_the_language(
    app, factory, staff_client, patient_a, accept, words
):
    # given events whose details carry stored codes (a method, a status, a decline code)
    number = add_invoice(app, patient_a, status="void", method="bank_transfer", issued_at=NOV)
    add_event(app, number, "confirmed", previous_status="pending", method="bank_transfer")
    add_event(app, number, "failed", reason="card_declined", amount="5000.00")
    # when staff read the invoice in their language
    html = staff_client.get(f"/staff/invoices/{number}", headers={"Accept-Language": accept}).text
    history = html.split('<section class="card history', 1)[1].split("</section>", 1)[0]
    # then each detail is a word of it, never a stored code
    for word in words:
        assert word in history
    for code in ("bank_transfer", "card_declined", "previous status", "method:", "completed"):
        assert code not in history
