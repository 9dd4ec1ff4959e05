"""How money, times and payment states read to people: the one home for that wording.

Templates use these through the Jinja filters registered by ``init_app``; the CSV
export and the sandbox provider page call them directly. Formatting comes from
Babel (CLDR data) in the request's locale (``app.i18n``: en, id or fil), and the
words from the catalogs. Times are stored in UTC (``app.models.UTCDateTime``) and
shown in the clinic's zone, ``CLINIC_TIMEZONE``, always with the offset written out.

Money is always pesos: the locale chooses the digit grouping and where the sign
goes (``₱1,250.00`` in en and fil, ``₱1.250,00`` in id), never the currency. CLDR's
Indonesian data writes the peso as ``PHP``; it is shown as ``₱`` like everywhere
else in the clinic, on the provider's page and on the patient's e-wallet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency, get_currency_symbol
from flask import Flask, current_app
from flask_babel import gettext

from app.config import clinic_timezone
from app.i18n import N_, current_locale
from app.models import (
    CURRENCY,
    CreditMemo,
    Payment,
    PaymentStatus,
    ProviderRequestState,
    TaxRecord,
    money,
)
from app.payments import lifecycle
from app.payments.pricing import Sale, recorded_sale
from app.payments.records import memo_failed, refunded_amount
from app.payments.vat import VatBreakdown

PESO_SIGN = "₱"
# ``1 Dec 2026, 10:30 +08:00``: staff pages write the offset out (their records are compared
# across zones); a patient reads clinic time without it (``1 Dec 2026, 10:30``).
TIME_PATTERN = "d MMM yyyy, HH:mm xxx"
CLINIC_TIME_PATTERN = "d MMM yyyy, HH:mm"
DAY_PATTERN = "d MMM yyyy"


@cache
def _zone(name: str) -> ZoneInfo:
    return clinic_timezone(name)


def clinic_tz() -> ZoneInfo:
    """The clinic's zone (``CLINIC_TIMEZONE``, validated when the app was created)."""
    return _zone(current_app.config["CLINIC_TIMEZONE"])


def format_money(value: Decimal | int | str | None) -> str:
    """``₱1,250.00`` (en, fil), ``₱1.250,00`` (id): pesos (not centavos), half-up to the
    centavo, in the request's locale; ``""`` for None."""
    if value is None:
        return ""
    locale = current_locale()
    text = format_currency(money(value), CURRENCY, locale=locale)
    return text.replace(get_currency_symbol(CURRENCY, locale), PESO_SIGN)


def format_when(value: datetime | None) -> str:
    """``1 Dec 2026, 10:30 +08:00`` (id ``1 Des 2026``, fil ``1 Dis 2026``) in clinic time;
    ``—`` for None."""
    if value is None:
        return "—"
    return format_datetime(value, TIME_PATTERN, tzinfo=clinic_tz(), locale=current_locale())


def format_clinic_time(value: datetime | None) -> str:
    """``1 Dec 2026, 10:30``: ``format_when`` without the offset, for the patient's pages (the
    footer names the clinic's zone); ``—`` for None."""
    if value is None:
        return "—"
    return format_datetime(value, CLINIC_TIME_PATTERN, tzinfo=clinic_tz(), locale=current_locale())


def format_day(value: datetime | None) -> str:
    """``1 Dec 2026``: the clinic-time calendar day of ``value``; ``—`` for None."""
    if value is None:
        return "—"
    return format_datetime(value, DAY_PATTERN, tzinfo=clinic_tz(), locale=current_locale())


def local_iso(value: datetime | None) -> str:
    """ISO 8601 in clinic time with its offset (``2026-12-01T10:30:00+08:00``); ``""`` for None."""
    if value is None:
        return ""
    return value.astimezone(clinic_tz()).isoformat()


def percent(rate: Decimal) -> str:
    """``0.12`` reads ``12``; ``0.125`` reads ``12.5`` (no ``%`` sign)."""
    return f"{(Decimal(rate) * 100).normalize():f}"


# --- payment states in words ----------------------------------------------------------

# English msgids; the functions below answer in the request's language.
PAYMENT_STATES = {
    "pending": N_("Payment pending"),
    "processing": N_("Payment pending"),
    "completed": N_("Paid"),
    "failed": N_("Payment declined"),
    "expired": N_("Payment expired"),
    "cancelled": N_("Payment cancelled"),
    "refunded": N_("Refunded"),
}
# Money actually taken from the patient: only these say "Amount charged".
CHARGED = frozenset({"completed", "refunded"})
NOT_CHARGED = frozenset({"failed", "expired", "cancelled"})


def payment_state(status: str, stale: bool = False) -> str:
    """The badge: ``completed`` reads "Paid"; a pending payment past its time "Payment expired"."""
    if stale and status == "pending":
        return gettext(PAYMENT_STATES["expired"])
    if status in PAYMENT_STATES:
        return gettext(PAYMENT_STATES[status])
    return status.replace("_", " ").capitalize()


def badge_status(status: str, stale: bool = False) -> str:
    """The badge's CSS state: a stale pending payment is styled as expired."""
    return "expired" if stale and status == "pending" else status


def amount_label(status: str, stale: bool = False, charged_anyway: bool = False) -> str:
    """ "Amount charged" for money taken, "Amount due" while pending, "Not charged" otherwise;
    "Charged, to be refunded" for a closed payment the provider charged after all
    (``charged_anyway``: ``extra_charges``)."""
    if status in CHARGED:
        return gettext("Amount charged")
    if charged_anyway:
        return gettext("Charged, to be refunded")
    if status in NOT_CHARGED or stale:
        return gettext("Not charged")
    return gettext("Amount due")


def extra_charges(payment: Payment) -> Decimal | None:
    """The total (pesos) of the charges the provider reported on ``payment`` that could not
    be applied to it: money the clinic owes back (``lifecycle.reported_charges``); None if none.
    """
    found = lifecycle.reported_charges(payment)
    if not found:
        return None
    data = [e.data if isinstance(e.data, dict) else {} for e in found]
    amounts = [d.get("amount") or d.get("reported_amount") for d in data]
    return sum((money(a) if a else payment.amount for a in amounts), Decimal("0.00"))


#: The status words of the staff pages' badges and filter (invoice, payment and VAT record
#: statuses, lower case as stored): English msgids, answered in the request's language.
STATUS_WORDS = {
    "pending": N_("pending"),
    "processing": N_("processing"),
    # A completed payment is what its invoice calls paid: one word for the one state.
    "completed": N_("paid"),
    "paid": N_("paid"),
    "failed": N_("failed"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "void": N_("void"),
    "refunded": N_("refunded"),
    "deleted": N_("deleted"),
    "reversed": N_("reversed"),
}


def status_word(status: str) -> str:
    """``paid`` (en), ``lunas`` (id), ``bayad`` (fil): a stored status for staff; an unknown
    status as stored."""
    return gettext(STATUS_WORDS[status]) if status in STATUS_WORDS else status


@dataclass(frozen=True)
class RefundNote:
    """ "Refunded on <date>: ₱X returned by <method>", and the reason staff gave.

    Until the payment provider confirms the refund (``returned``), the money is only on
    its way back, and the sentence says so ("to be returned by").
    """

    at: datetime
    amount: Decimal
    method: str
    reason: str
    returned: bool = False
    #: Who refunded it ("Clinic Staff"), where the page knows; the staff pages do.
    by: str | None = None
    #: When the provider returned the money (its clock), once ``returned``.
    returned_at: datetime | None = None

    @property
    def sentence(self) -> str:
        words = {
            "when": format_when(self.at),
            "amount": format_money(self.amount),
            "method": self.method,
            "by": self.by,
        }
        # Four whole sentences (not pieces glued together): word order differs by language.
        if self.by and self.returned:
            return gettext(
                "Refunded on %(when)s by %(by)s: %(amount)s returned by %(method)s.", **words
            )
        if self.by:
            return gettext(
                "Refunded on %(when)s by %(by)s: %(amount)s to be returned by %(method)s.",
                **words,
            )
        if self.returned:
            return gettext("Refunded on %(when)s: %(amount)s returned by %(method)s.", **words)
        return gettext("Refunded on %(when)s: %(amount)s to be returned by %(method)s.", **words)


def refunds_of(payment: Payment) -> list[RefundNote]:
    """Every refund of ``payment``, whole or partial, oldest first: one note per credit memo
    (``app.payments.refunds``); a payment never refunded has none.

    A refund the provider refused returned nothing. On a paid payment its amount is refundable
    again (``refunds.refundable``), so it is left out: staff refund it anew. On a refunded
    payment nothing else can return it, so it stays "on its way back" for the patient: the
    clinic owes it and finishes it from the attention page."""
    if payment.invoice is None:
        return []
    keep_refused = payment.status == PaymentStatus.REFUNDED
    return [
        refund_note(memo)
        for memo in payment.invoice.credit_memos
        if keep_refused or not memo_failed(memo)
    ]


def refund_note(memo: CreditMemo) -> RefundNote:
    """The sentence of one credit memo's refund: returned once the provider confirmed it."""
    returned = memo.provider_request.state == ProviderRequestState.SUCCEEDED
    return RefundNote(
        at=memo.issued_at,
        amount=money(memo.amount),
        method=memo.payment.method_label,
        reason=memo.reason or gettext("No reason recorded."),
        returned=returned,
        returned_at=memo.provider_request.completed_at if returned else None,
    )


def registered_tin(tin: str, branch_code: str) -> str:
    """The TIN as an invoice prints it, with the branch code as its last group (RR 7-2024:
    the seller's TIN with its branch code): ``000-123-456`` + ``00000`` is
    ``000-123-456-00000``; a TIN that already ends in a branch group gets ``branch_code``."""
    groups = tin.split("-")
    base = "-".join(groups[:3]) if len(groups) == 4 else tin
    return f"{base}-{branch_code}"


def sale_of(payment: Payment) -> Sale:
    """A stored payment's amounts (``app.payments.pricing.recorded_sale``) under this clinic's
    VAT registration."""
    return recorded_sale(payment, vat_registered=current_app.config["CLINIC_VAT_REGISTERED"])


def vat_of(record: TaxRecord) -> VatBreakdown:
    """A stored tax record as the three numbers the pages show (VATable amount, VAT, total)."""
    return VatBreakdown(
        taxable_base=money(record.taxable_base),
        vat=money(record.amount),
        total=money(record.taxable_base + record.amount),
        rate=record.rate,
        prices_include_vat=record.prices_include_vat,
    )


def init_app(app: Flask) -> None:
    """The template filters: ``money``/``peso``, ``when``, ``day``, ``percent``, state words."""
    app.jinja_env.filters.update(
        peso=format_money,
        money=format_money,
        when=format_when,
        clinic_time=format_clinic_time,
        day=format_day,
        percent=percent,
        payment_state=payment_state,
        badge_status=badge_status,
        amount_label=amount_label,
        extra_charges=extra_charges,
        status_word=status_word,
        refunds_of=refunds_of,
        refunded_amount=refunded_amount,
        vat_of=vat_of,
        sale_of=sale_of,
    )

    @app.context_processor
    def clinic():
        config = app.config
        return {
            "clinic": {
                "name": config["CLINIC_NAME"],
                "address": config["CLINIC_ADDRESS"],
                "tin": config["CLINIC_TIN"],
                "registered_tin": registered_tin(
                    config["CLINIC_TIN"], config["CLINIC_BRANCH_CODE"]
                ),
                "branch_code": config["CLINIC_BRANCH_CODE"],
                "business_style": config["CLINIC_BUSINESS_STYLE"],
                "vat_registered": config["CLINIC_VAT_REGISTERED"],
                "invoice_permit": config["CLINIC_INVOICE_PERMIT"],
                "email": config["CLINIC_CONTACT_EMAIL"],
                "phone": config["CLINIC_CONTACT_PHONE"],
                "timezone": config["CLINIC_TIMEZONE"],
                "logo": config.get("CLINIC_LOGO", ""),
            }
        }
