"""The staff invoice filter, labels and CSV cells: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from app.invoices.export import HEADER, csv_lines
from app.invoices.filters import InvalidFilter, InvoiceFilter, parse_filter, parse_page
from app.invoices.history import actor_label, event_label, receipt_link


def test_an_empty_query_string_is_no_filter_and_the_first_page():
    assert parse_filter({}) == InvoiceFilter()
    assert parse_page({"page": ""}) == 1


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


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "abc", "100001", "\u0663"])
def test_a_page_must_be_a_plain_whole_number_in_range(raw):
    with pytest.raises(InvalidFilter):
        parse_page({"page": raw})


def test_every_event_type_gets_a_label():
    assert event_label("duplicate_charge") == "Duplicate charge flagged"
    assert event_label("chargeback_opened") == "Chargeback opened"


def test_actors_read_as_people_or_systems():
    users = {12: SimpleNamespace(name="Maria Santos", role="patient")}
    assert actor_label("user:12", users) == "Maria Santos (patient)"
    assert actor_label("user:13", users) == "user:13"
    assert actor_label("system:checkout", users) == "System (checkout)"
    assert actor_label("cron", users) == "cron"


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
