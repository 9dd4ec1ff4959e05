"""The invoice list's filter, parsed from the query string. Pure: no database.

Every value a person can type is checked here, so a bad bookmark or a hand-edited
URL gets a clear message instead of reaching the database (a NUL byte or an
out-of-range date would otherwise fail inside PostgreSQL as a 500).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from app.i18n import N_, Phrase
from app.models import InvoiceStatus, PaymentMethod
from app.payments.requests import MAX_ID

STATUSES = tuple(s.value for s in InvoiceStatus)
#: Not an invoice status: the invoices whose payment staff deleted (moved no money).
DELETED = "deleted"
METHODS = tuple(m.value for m in PaymentMethod)
MAX_PATIENT_LENGTH = 120
MAX_NUMBER_LENGTH = 64
# Bounded so the day after the end date always exists and every year has four digits.
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
# English msgids; the list page shows them (and the errors, Phrases) in the staff member's
# language (app.i18n.translated).
FIELD_LABELS = {
    "status": N_("Status"),
    "method": N_("Payment method"),
    "issued_from": N_("Issued from"),
    "issued_to": N_("Issued to"),
    "patient": N_("Patient"),
    "number": N_("Invoice number"),
    "page": N_("Page"),
}
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")
INVOICE_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# "42" or "-42": the payment number an invoice number ends with (INV-<issued>-<payment id>).
_PAYMENT_NUMBER = re.compile(r"^-?([0-9]{1,10})$")


class InvalidFilter(ValueError):
    """One or more filter values cannot be used; ``errors`` maps field to message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class InvoiceFilter:
    """What the staff asked to see. ``None`` means "any".

    ``status`` is an invoice status or ``DELETED``; ``number`` is what was typed in the
    invoice number box, upper-cased (see ``payment_number`` and ``number_prefix``).
    """

    status: str | None = None
    method: str | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    patient: str | None = None
    number: str | None = None

    def query_args(self) -> dict[str, str]:
        """The non-empty fields as query-string values, to build links that keep the filter."""
        return {k: str(v) for k, v in asdict(self).items() if v is not None}

    @property
    def payment_number(self) -> int | None:
        """The trailing payment number when ``number`` is only digits ("42", "-42")."""
        match = _PAYMENT_NUMBER.match(self.number or "")
        return int(match.group(1)) if match else None

    @property
    def number_prefix(self) -> str | None:
        """The lower-cased start of an invoice number, when ``number`` is not a payment number.

        "inv-202611" as typed; "20261126093000-42" (the number without its "INV-") gets it back.
        """
        if self.number is None or self.payment_number is not None:
            return None
        prefix = self.number.lower()
        return f"inv-{prefix}" if prefix[0].isdigit() else prefix

    def issued_after(self, tz: tzinfo) -> datetime | None:
        """When the first day begins in ``tz`` (the clinic's zone), as UTC (inclusive)."""
        if self.issued_from is None:
            return None
        return datetime.combine(self.issued_from, time.min, tzinfo=tz).astimezone(UTC)

    def issued_before(self, tz: tzinfo) -> datetime | None:
        """When the day after the last day begins in ``tz``, as UTC (exclusive)."""
        if self.issued_to is None:
            return None
        day_after = self.issued_to + timedelta(days=1)
        return datetime.combine(day_after, time.min, tzinfo=tz).astimezone(UTC)


def parse_filter(args: Mapping[str, str]) -> InvoiceFilter:
    """Build the filter from query-string values, collecting every problem at once.

    :raise InvalidFilter: a value is not one we can search for.
    """
    errors: dict[str, str] = {}
    status = _choice(args, "status", (*STATUSES, DELETED), errors)
    method = _choice(args, "method", METHODS, errors)
    issued_from = _date(args, "issued_from", errors)
    issued_to = _date(args, "issued_to", errors)
    if issued_from and issued_to and issued_from > issued_to:
        errors["issued_to"] = Phrase(N_("The end date is before the start date."))
    patient = _text(args, "patient", MAX_PATIENT_LENGTH, errors)
    number = _number(args, errors)
    if errors:
        raise InvalidFilter(errors)
    return InvoiceFilter(status, method, issued_from, issued_to, patient, number)


@dataclass(frozen=True)
class Cursor:
    """Where a page of the list starts: the row next to it on the page before (an "Older"
    link carries the last row shown, a "Newer" link the first one).

    The list is ordered by ``(issued_at, id)``, newest first; ``older`` says which side
    of the row the page lies. In links it is ``<direction><microseconds since the epoch,
    UTC>.<invoice id>`` (``o1764925800000000.42``): the row's position, not a page
    number, so a page costs the same however deep it is (keyset pagination).
    """

    issued_at: datetime
    invoice_id: int
    older: bool = True

    def token(self) -> str:
        micros = (self.issued_at - _EPOCH) // timedelta(microseconds=1)
        return f"{'o' if self.older else 'n'}{micros}.{self.invoice_id}"

    @classmethod
    def of_row(cls, row, *, older: bool) -> Cursor:
        """The cursor just past ``row`` (a list row: ``issued_at`` and ``id``)."""
        return cls(row.issued_at, row.id, older)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^([on])([0-9]{1,17})\.([0-9]{1,10})$")


def parse_cursor(args: Mapping[str, str]) -> Cursor | None:
    """The ``page`` cursor of a Newer or Older link; None (the first page) when there is none.

    :raise InvalidFilter: the value is not one the list's links make (edited or cut short),
        or names an instant outside EARLIEST..LATEST or an id outside 1..MAX_ID.
    """
    raw = (args.get("page") or "").strip()
    if not raw:
        return None
    match = _CURSOR.match(raw) if raw.isascii() else None
    cursor = None
    if match:
        micros, invoice_id = int(match.group(2)), int(match.group(3))
        issued_at = _EPOCH + timedelta(microseconds=micros)
        if _EARLIEST_AT <= issued_at < _LATEST_AT and 1 <= invoice_id <= MAX_ID:
            cursor = Cursor(issued_at, invoice_id, match.group(1) == "o")
    if cursor is None:
        raise InvalidFilter(
            {"page": Phrase(N_("This page link is damaged: start again from the newest invoices."))}
        )
    return cursor


_EARLIEST_AT = datetime.combine(EARLIEST, time.min, tzinfo=UTC)
_LATEST_AT = datetime.combine(LATEST, time.min, tzinfo=UTC) + timedelta(days=1)


def parse_list_args(args: Mapping[str, str]) -> tuple[InvoiceFilter, Cursor | None]:
    """The filter and the page's cursor together, reporting the problems of both at once.

    :raise InvalidFilter: any value is unusable.
    """
    errors: dict[str, str] = {}
    invoice_filter, cursor = InvoiceFilter(), None
    try:
        invoice_filter = parse_filter(args)
    except InvalidFilter as exc:
        errors.update(exc.errors)
    try:
        cursor = parse_cursor(args)
    except InvalidFilter as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidFilter(errors)
    return invoice_filter, cursor


def _raw(args: Mapping[str, str], name: str) -> str:
    return (args.get(name) or "").strip()


def _choice(args, name: str, allowed: tuple[str, ...], errors: dict[str, str]) -> str | None:
    raw = _raw(args, name).lower()
    if not raw:
        return None
    if raw not in allowed:
        # The page's select lists the choices in words; stored codes (bank_transfer) are not.
        errors[name] = Phrase(N_("Choose one of the options in the list."))
        return None
    return raw


def _date(args, name: str, errors: dict[str, str]) -> date | None:
    raw = _raw(args, name)
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        value = None
    if value is None:
        errors[name] = Phrase(N_("Use a date such as 2026-11-26 (year-month-day)."))
        return None
    if not EARLIEST <= value <= LATEST:
        errors[name] = Phrase(
            N_("Use a date between %(earliest)s and %(latest)s."),
            earliest=str(EARLIEST),
            latest=str(LATEST),
        )
        return None
    return value


def _text(args, name: str, max_length: int, errors: dict[str, str]) -> str | None:
    raw = _raw(args, name)
    if not raw:
        return None
    if len(raw) > max_length:
        errors[name] = Phrase(N_("Use at most %(max)s characters."), max=max_length)
        return None
    if not _PRINTABLE.match(raw):
        errors[name] = Phrase(N_("Remove the control characters (tabs, line breaks and the like)."))
        return None
    return raw


def _number(args, errors: dict[str, str]) -> str | None:
    raw = _raw(args, "number")
    if not raw:
        return None
    if not INVOICE_NUMBER.match(raw):
        errors["number"] = Phrase(
            N_(
                "Type the start of an invoice number (INV-20261126…) "
                "or the payment number at its end (42)."
            )
        )
        return None
    digits = _PAYMENT_NUMBER.match(raw)
    if digits and not 1 <= int(digits.group(1)) <= MAX_ID:
        errors["number"] = Phrase(N_("A payment number is from 1 to %(max)s."), max=f"{MAX_ID:,}")
        return None
    return raw.upper()
