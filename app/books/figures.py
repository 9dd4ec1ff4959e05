"""The figures of one clinic day's books, summed by the database.

A **clinic day** is a calendar day in ``CLINIC_TIMEZONE`` (Asia/Manila): a capture at 23:59
and one at 00:01 clinic time land on two days. What counts on a day:

- a **sale** on the day its sales invoice serial was issued (``invoices.serial_issued_at``:
  the capture), at its branch, whatever happened to the payment later: a refund is a
  credit memo of its own day and never takes a sale off the day it was made;
- a **credit memo** on the day it was issued (``credit_memos.issued_at``), with the state of
  its refund: a memo whose refund the provider refused stays, numbered, and is shown as
  refused (its amount returned nothing);
- **pending**: payments started that day and not yet captured, declined or expired, and
  memos of the day whose refund the provider has not yet made;
- **charges to refund**: money the provider took that is no sale, on the day it was reported
  (a payment approved after it was cancelled while another paid, a second charge, a charge of
  another amount: ``transitions.IS_REPORTED_CHARGE``, the attention page's list). The provider's
  settlement includes it, so the books show it apart, never as a sale. Like pending payments
  it has no serial, so no branch: it counts at this clinic's one branch.

Amounts in pesos (``Decimal``, centavos). Each part is one aggregate query over the day's
rows (indexes ``ix_invoices_branch_serial_issued_at``, ``ix_credit_memos_branch_issued_at``,
``ix_payments_status_created_at``); no payment is read into Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.formatting import clinic_tz
from app.models import (
    CreditMemo,
    Invoice,
    Payment,
    PaymentEvent,
    PaymentMethod,
    PaymentStatus,
    ProviderRequest,
    ProviderRequestState,
    SaleDiscount,
    TaxRecord,
    money,
)
from app.payments.transitions import IS_REPORTED_CHARGE, REPORTED_CHARGE_AMOUNT

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class MethodTotal:
    """The sales of one payment method (``gcash``, ``card``...): how many, and pesos."""

    method: str
    count: int
    amount: Decimal

    @property
    def label(self) -> str:
        """The method's name in the request's language."""
        return PaymentMethod(self.method).label


@dataclass(frozen=True)
class DayFigures:
    """One branch's clinic day. ``gross − vat_removed − discounts == net`` for sales: the
    gross is before any discount (with its VAT), ``net`` what patients paid.

    ``first_invoice``/``last_invoice`` and ``first_memo``/``last_memo``: serials as printed,
    ``None`` on a day without any. ``memos_refused``: the memos whose refund the provider
    refused (their amount is in ``memo_amount`` too: the memo stands, the money stayed).
    """

    day: date
    branch_code: str
    first_invoice: str | None
    last_invoice: str | None
    invoice_count: int
    gross: Decimal
    vatable_sales: Decimal
    vat_exempt_sales: Decimal
    vat: Decimal
    discounts: Decimal
    net: Decimal
    by_method: tuple[MethodTotal, ...]
    first_memo: str | None
    last_memo: str | None
    memo_count: int
    memo_amount: Decimal
    memos_refused: int
    memo_refused_amount: Decimal
    memos_pending: int
    memo_pending_amount: Decimal
    pending_count: int
    pending_amount: Decimal
    #: Charges the provider took that are no sale and are owed back (a day closed before
    #: these were counted reads 0: a closing never changes).
    charges_count: int = 0
    charges_amount: Decimal = ZERO

    @property
    def refunded(self) -> Decimal:
        """Pesos the day's memos returned or are returning (refused ones excluded)."""
        return self.memo_amount - self.memo_refused_amount

    def to_json(self) -> dict[str, Any]:
        """JSON-safe (amounts as ``"1120.00"``, the day as ISO), for ``DayClosing.figures``."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["by_method"] = [
            {"method": m.method, "count": m.count, "amount": str(m.amount)} for m in self.by_method
        ]
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DayFigures:
        amounts = {f for f, kind in cls.__annotations__.items() if kind == "Decimal"}
        values = {k: Decimal(v) if k in amounts else v for k, v in data.items()}
        values["day"] = date.fromisoformat(data["day"])
        values["by_method"] = tuple(
            MethodTotal(m["method"], m["count"], Decimal(m["amount"])) for m in data["by_method"]
        )
        return cls(**values)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of ``day`` in clinic time and of the day after (half-open)."""
    zone = clinic_tz()
    return datetime.combine(day, time(), zone), datetime.combine(
        day + timedelta(days=1), time(), zone
    )


def clinic_today() -> date:
    return datetime.now(clinic_tz()).date()


def _sum(column) -> Any:
    return func.coalesce(func.sum(column), 0)


def live_figures(session: Session, day: date, branch_code: str) -> DayFigures:
    """``day``'s figures as the rows stand now (``app.books.closing.books_of`` reads a
    closed day from its closing instead)."""
    start, end = day_bounds(day)
    vat_registered = current_app.config["CLINIC_VAT_REGISTERED"]
    of_day = (
        Invoice.branch_code == branch_code,
        Invoice.serial_issued_at >= start,
        Invoice.serial_issued_at < end,
    )
    full_price = SaleDiscount.payment_id.is_(None)
    sales = session.execute(
        select(
            func.count(Invoice.id),
            func.min(Invoice.serial),
            func.max(Invoice.serial),
            _sum(func.coalesce(SaleDiscount.gross, Payment.amount)),
            _sum(case((full_price, func.coalesce(TaxRecord.taxable_base, 0)), else_=0)),
            _sum(SaleDiscount.vat_exempt_sales),
            _sum(case((full_price, func.coalesce(TaxRecord.amount, 0)), else_=0)),
            _sum(SaleDiscount.discount),
            _sum(Payment.amount),
        )
        .select_from(Invoice)
        .join(Payment, Payment.id == Invoice.payment_id)
        .outerjoin(SaleDiscount, SaleDiscount.payment_id == Payment.id)
        .outerjoin(TaxRecord, TaxRecord.payment_id == Payment.id)
        .where(*of_day)
    ).one()
    count, first, last, gross, vatable, exempt, vat, discounts, net = sales
    if not vat_registered:
        # A non-VAT clinic's invoices show no VAT breakdown (app/payments/pricing.py).
        vatable = vat = ZERO
    methods = session.execute(
        select(Payment.payment_method, func.count(Invoice.id), _sum(Payment.amount))
        .select_from(Invoice)
        .join(Payment, Payment.id == Invoice.payment_id)
        .where(*of_day)
        .group_by(Payment.payment_method)
        .order_by(Payment.payment_method)
    ).all()
    refused = ProviderRequest.state == ProviderRequestState.FAILED.value
    waiting = ProviderRequest.state == ProviderRequestState.PENDING.value
    memos = session.execute(
        select(
            func.count(CreditMemo.id),
            func.min(CreditMemo.serial),
            func.max(CreditMemo.serial),
            _sum(CreditMemo.amount),
            func.count(CreditMemo.id).filter(refused),
            func.sum(CreditMemo.amount).filter(refused),
            func.count(CreditMemo.id).filter(waiting),
            func.sum(CreditMemo.amount).filter(waiting),
        )
        .join(ProviderRequest, ProviderRequest.id == CreditMemo.provider_request_id)
        .where(
            CreditMemo.branch_code == branch_code,
            CreditMemo.issued_at >= start,
            CreditMemo.issued_at < end,
        )
    ).one()
    memo_count, memo_first, memo_last, memo_amount, n_refused, refused_amount, n_waiting, waiting_amount = memos  # fmt: skip
    pending_count, pending_amount = session.execute(
        select(func.count(Payment.id), _sum(Payment.amount)).where(
            Payment.status == PaymentStatus.PENDING.value,
            Payment.deleted_at.is_(None),
            Payment.created_at >= start,
            Payment.created_at < end,
        )
    ).one()
    charges_count, charges_amount = session.execute(
        select(func.count(PaymentEvent.id), _sum(REPORTED_CHARGE_AMOUNT))
        .select_from(PaymentEvent)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(
            IS_REPORTED_CHARGE,
            PaymentEvent.created_at >= start,
            PaymentEvent.created_at < end,
        )
    ).one()
    return DayFigures(
        day=day,
        branch_code=branch_code,
        first_invoice=_printed(session, Invoice, branch_code, first),
        last_invoice=_printed(session, Invoice, branch_code, last),
        invoice_count=count,
        gross=money(gross),
        vatable_sales=money(vatable),
        vat_exempt_sales=money(exempt),
        vat=money(vat),
        discounts=money(discounts),
        net=money(net),
        by_method=tuple(MethodTotal(m, n, money(a)) for m, n, a in methods),
        first_memo=_printed(session, CreditMemo, branch_code, memo_first),
        last_memo=_printed(session, CreditMemo, branch_code, memo_last),
        memo_count=memo_count,
        memo_amount=money(memo_amount),
        memos_refused=n_refused,
        memo_refused_amount=money(refused_amount or 0),
        memos_pending=n_waiting,
        memo_pending_amount=money(waiting_amount or 0),
        pending_count=pending_count,
        pending_amount=money(pending_amount),
        charges_count=charges_count,
        charges_amount=money(charges_amount),
    )


def _printed(session: Session, model, branch_code: str, serial: int | None) -> str | None:
    """The serial as it was printed when issued (its prefix of that time)."""
    if serial is None:
        return None
    return session.execute(
        select(model.serial_number).where(model.branch_code == branch_code, model.serial == serial)
    ).scalar_one()
