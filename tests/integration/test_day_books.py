"""The day's books on real PostgreSQL: a mixed clinic day checked figure by figure against
amounts worked out by hand from the fees, the Manila day boundary, and the closing rule (a
closed day never changes; later refunds and captures land on the day they are made)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.books.figures import clinic_today
from app.extensions import db
from app.models import (
    AuditAction,
    AuditEvent,
    CreditMemo,
    DayClosing,
    Invoice,
    Payment,
    ProviderRequest,
)
from app.payments.serials import issue_invoice_serial
from tests.support.auth import AuthActions

MANILA = ZoneInfo("Asia/Manila")
D = Decimal


@pytest.fixture
def manager(factory):
    return factory.staff(name="Maria Santos")


@pytest.fixture
def manager_client(app, manager):
    return AuthActions(app).session_for(manager)


@pytest.fixture
def day(app):
    """A clinic day that has ended (three days ago, Manila time)."""
    with app.app_context():
        return clinic_today() - timedelta(days=3)


def at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MANILA)


def sell(app, api, factory, manager, *, fee: str, method: str, patient=None) -> int:
    """A captured payment of a new consultation; its id."""
    patient = patient or factory.patient()
    consultation = factory.consultation(patient, fee=fee)
    payment_id = api.new_payment(patient, consultation, method=method)
    answer = api.confirm(manager, payment_id, transaction_id=f"txn_books_{payment_id}")
    assert answer.status_code == 200, answer.json
    return payment_id


def sold_at(app, payment_id: int, when: datetime) -> None:
    """Place a capture at ``when`` (the test's clock: captures happen now)."""
    with app.app_context():
        db.session.execute(
            update(Invoice)
            .where(Invoice.payment_id == payment_id)
            .values(serial_issued_at=when, paid_at=when, issued_at=when)
        )
        db.session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(completed_at=when, created_at=when)
        )
        db.session.commit()


def refund(app, api, manager, payment_id: int, amount: str, when: datetime | None) -> int:
    """A refund of ``amount`` pesos through the API; its credit memo's id (moved to ``when``)."""
    answer = api.refund(manager, payment_id, reason="Shortened visit", amount=amount)
    assert answer.status_code == 200, answer.json
    with app.app_context():
        memo = (
            db.session.execute(
                select(CreditMemo)
                .where(CreditMemo.payment_id == payment_id)
                .order_by(CreditMemo.id.desc())
            )
            .scalars()
            .first()
        )
        if when is not None:
            memo.issued_at = when
            db.session.commit()
        return memo.id


def refund_refused(app, memo_id: int) -> None:
    """The provider refused the memo's refund for good (what the outbox records then)."""
    with app.app_context():
        memo = db.session.get(CreditMemo, memo_id)
        db.session.execute(
            update(ProviderRequest)
            .where(ProviderRequest.id == memo.provider_request_id)
            .values(state="failed", last_error="refused by the provider")
        )
        db.session.commit()


def serial_of(app, payment_id: int) -> str:
    with app.app_context():
        return db.session.execute(
            select(Invoice.serial_number).where(Invoice.payment_id == payment_id)
        ).scalar_one()


def memo_serial(app, memo_id: int) -> str:
    with app.app_context():
        return db.session.get(CreditMemo, memo_id).serial_number


def books_csv(client, day: date) -> dict[tuple[str, str], list[str]]:
    answer = client.get(f"/staff/books.csv?day={day.isoformat()}")
    assert answer.status_code == 200
    assert answer.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows[0] == ["section", "item", "count", "amount", "first_serial", "last_serial"]
    return {(r[0], r[1]): r[2:] for r in rows[1:]}


@pytest.fixture
def mixed_day(app, api, factory, runner, manager, day):
    """Sales A (₱1,120 GCash, VAT), B (₱1,120 senior citizen: ₱800 card), C (₱5,000 card at
    23:59), E (₱2,240 GCash at 00:01 the next day); ₱500 refunded of A; B's ₱800 refund
    refused by the provider; a ₱3,000 payment still pending."""
    lola = factory.patient(name="Lola Remedios")
    card = ["users", "set-discount", lola.email, "--kind", "senior_citizen",
            "--id-number", "QC-2019-0042", "--name", "Remedios Cruz"]  # fmt: skip
    assert runner.invoke(args=card).exit_code == 0
    a = sell(app, api, factory, manager, fee="1120", method="gcash")
    b = sell(app, api, factory, manager, fee="1120", method="stripe", patient=lola)
    c = sell(app, api, factory, manager, fee="5000", method="stripe")
    e = sell(app, api, factory, manager, fee="2240", method="gcash")
    sold_at(app, a, at(day, 9, 0))
    sold_at(app, b, at(day, 10, 0))
    sold_at(app, c, at(day, 23, 59))
    sold_at(app, e, at(day + timedelta(days=1), 0, 1))
    partial = refund(app, api, manager, a, "500.00", at(day, 15, 0))
    refused = refund(app, api, manager, b, "800.00", at(day, 16, 0))
    refund_refused(app, refused)
    waiting = factory.patient()
    pending = api.new_payment(waiting, factory.consultation(waiting, fee="3000"), method="gcash")
    with app.app_context():
        db.session.execute(
            update(Payment).where(Payment.id == pending).values(created_at=at(day, 11, 0))
        )
        db.session.commit()
    return {"a": a, "b": b, "c": c, "e": e, "pending": pending,
            "partial": partial, "refused": refused}  # fmt: skip


def test_every_figure_of_a_mixed_day(app, manager_client, mixed_day, day):
    # Worked by hand from the fees (12% VAT in the price): A ₱1,120 = 1,000.00 + 120.00;
    # B ₱1,120 senior citizen = 1,000.00 VAT-exempt − 200.00 = 800.00; C ₱5,000 =
    # 4,464.29 + 535.71 (5,000 × 0.12 / 1.12 = 535.714...). E is the next day's.
    books = books_csv(manager_client, day)
    first, last = serial_of(app, mixed_day["a"]), serial_of(app, mixed_day["c"])
    assert books[("invoices", "issued")] == ["3", "", first, last]
    assert books[("sales", "gross")][1] == "7240.00"
    assert books[("sales", "vatable_sales")][1] == "5464.29"
    assert books[("sales", "vat_exempt_sales")][1] == "1000.00"
    assert books[("sales", "vat")][1] == "655.71"
    assert books[("sales", "sc_pwd_discounts")][1] == "200.00"
    assert books[("sales", "net")][:2] == ["3", "6920.00"]
    assert books[("net_by_method", "gcash")][:2] == ["1", "1120.00"]
    assert books[("net_by_method", "stripe")][:2] == ["2", "5800.00"]
    memo_first, memo_last = (memo_serial(app, mixed_day[k]) for k in ("partial", "refused"))
    assert books[("credit_memos", "issued")] == ["2", "1300.00", memo_first, memo_last]
    assert books[("credit_memos", "refund_refused")][:2] == ["1", "800.00"]
    assert books[("credit_memos", "refund_pending")][:2] == ["1", "500.00"]
    assert books[("credit_memos", "refunded")][1] == "500.00"
    assert books[("pending", "payments")][:2] == ["1", "3000.00"]

    # 00:01 Manila is the next clinic day (16:01 UTC, the same UTC day as 23:59 Manila).
    following = books_csv(manager_client, day + timedelta(days=1))
    only = serial_of(app, mixed_day["e"])
    assert following[("invoices", "issued")] == ["1", "", only, only]
    assert following[("sales", "gross")][1] == "2240.00"
    assert following[("net_by_method", "gcash")][:2] == ["1", "2240.00"]
    assert following[("credit_memos", "issued")] == ["0", "0.00", "", ""]

    page = manager_client.get(f"/staff/books?day={day.isoformat()}")
    assert page.status_code == 200
    for shown in (first, last, memo_first, memo_last, "₱7,240.00", "₱5,464.29", "₱655.71",
                  "₱6,920.00", "₱1,300.00", "₱3,000.00", "Refund refused by the provider"):  # fmt: skip
        assert shown in page.text


def test_a_closed_day_never_changes_and_later_refunds_land_on_today(
    app, api, manager, manager_client, mixed_day, day
):
    before = books_csv(manager_client, day)
    # closing a day with a payment still pending needs the manager's confirmation
    refused = manager_client.post("/staff/books/close", data={"day": day.isoformat()})
    assert refused.status_code == 409
    assert "1 payment of this day is still pending" in refused.text
    closed = manager_client.post(
        "/staff/books/close", data={"day": day.isoformat(), "pending_confirmed": "y"}
    )
    assert closed.status_code == 303

    # later: a refund of the closed day's sale, the pending payment paid, the partial
    # refund refused by the provider
    today_before = books_csv(manager_client, clinic_today_of(app))
    refund(app, api, manager, mixed_day["c"], "1000.00", None)
    answer = api.confirm(manager, mixed_day["pending"], transaction_id="txn_books_late")
    assert answer.status_code == 200
    refund_refused(app, mixed_day["partial"])

    after = books_csv(manager_client, day)
    assert {k: v for k, v in after.items() if k[0] not in ("closed", "closed_by")} == before
    assert after[("closed_by", "Maria Santos")] == ["", "", "", ""]
    today = books_csv(manager_client, clinic_today_of(app))
    late = serial_of(app, mixed_day["pending"])
    assert today_before[("invoices", "issued")][0] == "0"
    assert today[("invoices", "issued")] == ["1", "", late, late]
    assert today[("credit_memos", "issued")][:2] == ["1", "1000.00"]

    # closing again changes nothing: one closing, one audit row
    again = manager_client.post(
        "/staff/books/close", data={"day": day.isoformat(), "pending_confirmed": "y"}
    )
    assert again.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(DayClosing.id))) == 1
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == AuditAction.DAY_CLOSED.value)
        ).all()
        assert actions == [AuditAction.DAY_CLOSED.value]


def clinic_today_of(app) -> date:
    with app.app_context():
        return clinic_today()


def test_today_cannot_be_closed_and_a_bad_day_is_refused(app, manager_client):
    today = clinic_today_of(app).isoformat()
    answer = manager_client.post("/staff/books/close", data={"day": today})
    assert answer.status_code == 409
    assert "Only a day that has ended can be closed." in answer.text
    assert manager_client.post("/staff/books/close", data={"day": "yesterday"}).status_code == 422
    assert manager_client.get("/staff/books?day=2026-13-01").status_code == 400
    assert manager_client.get("/staff/books.csv?day=soon").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(DayClosing.id))) == 0


def test_a_cashier_reads_the_books_but_cannot_close_a_day(app, factory, day):
    cashier = AuthActions(app).session_for(factory.cashier())
    page = cashier.get(f"/staff/books?day={day.isoformat()}")
    assert page.status_code == 200
    assert "Close the day" not in page.text
    answer = cashier.post("/staff/books/close", data={"day": day.isoformat()})
    assert answer.status_code == 403


def test_a_capture_dated_before_it_got_the_serial_lock_is_dated_when_it_got_it(app, api, factory):
    # A capture that took its time before waiting on the counter lock (held by a closing
    # past midnight) must not be dated on the day that was closed meanwhile.
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient), method="gcash")
    with app.app_context():
        invoice = db.session.get(Payment, payment_id).invoice
        before_lock = datetime.now(MANILA)
        issue_invoice_serial(db.session, invoice, before_lock - timedelta(hours=1))
        assert invoice.serial_issued_at >= before_lock
        db.session.rollback()
