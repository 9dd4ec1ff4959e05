"""The staff invoice filter, labels and CSV cells: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from app.invoices.export import HEADER, csv_lines
from app.invoices.filters import (
    Cursor,
    InvalidFilter,
    InvoiceFilter,
    parse_cursor,
    parse_filter,
)
from app.invoices.history import DETAIL_WORDS, _details, actor_label, event_label, receipt_link


def test_an_empty_query_string_is_no_filter_and_the_first_page():
    assert parse_filter({}) == InvoiceFilter()
    assert parse_cursor({"page": ""}) is None


def test_values_are_trimmed_and_normalised():
    parsed = parse_filter(
        {
            "status": " Paid ",
            "method": "GCASH",
            "issued_from": "2026-11-01",
            "issued_to": "2026-11-30",
            "patient": "  maria ",
            "number": "inv-20261101090000-7",
        }
    )
    assert parsed == InvoiceFilter(
        "paid", "gcash", date(2026, 11, 1), date(2026, 11, 30), "maria", "INV-20261101090000-7"
    )


def test_the_date_range_covers_whole_days_of_the_given_zone():
    parsed = InvoiceFilter(issued_from=date(2026, 11, 1), issued_to=date(2026, 11, 30))
    assert parsed.issued_after(UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parsed.issued_before(UTC) == datetime(2026, 12, 1, tzinfo=UTC)
    # A Manila day starts at 16:00 UTC the day before.
    manila = ZoneInfo("Asia/Manila")
    assert parsed.issued_after(manila) == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert parsed.issued_before(manila) == datetime(2026, 11, 30, 16, tzinfo=UTC)


def test_query_args_keep_only_what_filters():
    parsed = InvoiceFilter(status="void", issued_from=date(2026, 11, 2))
    assert parsed.query_args() == {"status": "void", "issued_from": "2026-11-02"}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"status": "unpaid"}, "status"),
        ({"method": "cash"}, "method"),
        ({"issued_from": "2026-02-30"}, "issued_from"),
        ({"issued_from": "20261126"}, "issued_from"),  # only the dashed form
        ({"issued_to": "1999-12-31"}, "issued_to"),
        ({"issued_from": "2026-11-02", "issued_to": "2026-11-01"}, "issued_to"),
        ({"patient": "a\tb"}, "patient"),
        ({"patient": "x" * 121}, "patient"),
        ({"number": "INV 1"}, "number"),
        ({"number": "I" * 65}, "number"),
    ],
)
def test_unusable_values_name_their_field(args, field):
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(args)
    assert list(caught.value.errors) == [field]


@pytest.mark.parametrize("older", [True, False])
def test_a_cursor_comes_back_from_its_link_unchanged(older):
    cursor = Cursor(datetime(2026, 11, 26, 1, 30, 0, 123456, tzinfo=UTC), 42, older)
    assert parse_cursor({"page": cursor.token()}) == cursor


@pytest.mark.parametrize(
    "raw",
    [
        "2",  # a page number of the old links
        "o1764120600123456",  # no id
        "x1764120600123456.42",  # no direction
        "o1764120600123456.0",  # id 0
        "o1764120600123456.2147483648",  # past the largest id
        "o99999999999999999.42",  # past 2999
        "o0.42",  # 1970, before 2000
        "o-1.42",
        "o\u0661\u0662.42",  # digits that are not ASCII
        "o1764120600123456.42;DROP",
    ],
)
def test_a_damaged_cursor_is_refused_with_a_clear_message(raw):
    with pytest.raises(InvalidFilter) as caught:
        parse_cursor({"page": raw})
    assert list(caught.value.errors) == ["page"]


def test_every_event_type_gets_a_label():
    assert event_label("duplicate_charge") == "Duplicate charge flagged"
    assert event_label("chargeback_opened") == "Chargeback opened"


def test_actors_read_as_people_or_systems():
    users = {12: SimpleNamespace(name="Maria Santos", role="patient")}
    assert actor_label("user:12", users) == "Maria Santos (patient)"
    assert actor_label("user:13", users) == "user:13"
    assert actor_label("system:checkout", users) == "System (checkout)"
    assert actor_label("cron", users) == "cron"


def test_every_role_and_every_stored_detail_reads_as_words():
    users = {1: SimpleNamespace(name="Rosa Reyes", role="manager"),
             2: SimpleNamespace(name="Ben Cruz", role="cashier")}  # fmt: skip
    assert actor_label("user:1", users) == "Rosa Reyes (manager)"
    assert actor_label("user:2", users) == "Ben Cruz (cashier)"
    # the refund's and the flagged charge's details (app/payments/refunds.py, confirmation.py)
    refund = {"reason": "Shortened visit", "amount": "250.00", "credit_memo": "CM-000001",
              "remaining": "1000.00"}  # fmt: skip
    assert _details(refund) == (
        ("Reason", "Shortened visit"),
        ("Amount", "₱250.00"),
        ("Credit memo", "CM-000001"),
        ("Left to refund", "₱1,000.00"),
    )
    flagged = {"action": "refund this charge at the provider", "expected_amount": "5000.00",
               "completed_transaction_id": "txn_1"}  # fmt: skip
    assert _details(flagged) == (
        ("What to do", "refund this charge at the provider"),
        ("Amount expected", "₱5,000.00"),
        ("Transaction that paid it", "txn_1"),
    )
    # every key the payment code records has a name of its own, not the key itself
    for key in ("reason", "amount", "credit_memo", "remaining", "previous_status", "action",
                "transaction_id", "currency", "expected_currency", "reported_amount",
                "payment_id", "other_payment_id", "refunded_payment_id"):  # fmt: skip
        assert key in DETAIL_WORDS, key


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://pay.example/r/1", True),
        ("http://pay.example/r/1", True),
        ("javascript:alert(1)", False),
        ("//pay.example/r/1", False),
        ("", False),
        (None, False),
    ],
)
def test_only_web_addresses_become_receipt_links(url, linked):
    assert (receipt_link(SimpleNamespace(receipt_url=url)) is not None) is linked


def _row(**overrides):
    values = dict(
        invoice_number="INV-1",
        issued_at=datetime(2026, 11, 1, 9, tzinfo=UTC),
        paid_at=None,
        status="pending",
        amount="5000",
        currency="PHP",
        vat_rate=None,
        vatable_amount=None,
        vat_amount=None,
        payment_method="stripe",
        payment_status="pending",
        transaction_id=None,
        patient_name="Maria",
        patient_email="m@example.test",
        doctor_name="Dr. Ana Cruz",
        scheduled_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        refunded_amount=None,
        charges_to_refund=None,
        charge_transaction_id=None,
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def test_csv_chunks_join_into_the_header_and_one_line_per_row(clinic_time):
    rows = [_row(invoice_number=f"INV-{n}") for n in range(300)]
    chunks = list(csv_lines(rows, chunk_size=1000))
    lines = "".join(chunks).split("\r\n")
    assert len(chunks) > 10
    assert lines[0] == "\ufeff" + ",".join(HEADER)  # a byte-order mark first, for Excel
    # 09:00 UTC is 17:00 in Manila: the CSV is in clinic time, offset included
    assert lines[1].startswith("INV-0,2026-11-01T17:00:00+08:00,,pending,5000.00,PHP,,,,")
    assert len(lines) == 302 and lines[-1] == ""


@pytest.mark.parametrize("name", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"])
def test_csv_text_that_looks_like_a_formula_is_defused(name, clinic_time):
    text = "".join(csv_lines([_row(patient_name=name)]))
    assert ",'" + name[:1] in text or ",\"'" + name[:1] in text
