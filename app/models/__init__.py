"""The database tables, by area; every name is importable from ``app.models``.

- ``columns``: money (``Decimal`` centavos), aware UTC times, the column types;
- ``people``: users (patients, cashiers, managers), recovery codes, consultations;
- ``audit``: the audit trail of who saw and did what;
- ``books``: the clinic days a manager closed, with their figures;
- ``discounts``: senior citizen / PWD cards and the discount each sale granted;
- ``payments``: payments, invoices, tax records, payment history, idempotency keys;
- ``provider``: the provider's notifications, the refund outbox, the sandbox's refunds;
- ``invoicing``: the serial counters of invoices and credit memos, and the credit memos.

Callers import from here (``from app.models import Payment``): the area modules are how the
code is laid out, not part of the interface.
"""

from app.models.audit import AuditAction, AuditEvent
from app.models.books import DayClosing
from app.models.columns import (
    CENT,
    CURRENCY,
    MIN_CHARGE,
    MIN_FEE,
    JSONType,
    Money,
    UTCDateTime,
    money,
    one_of,
    utcnow,
)
from app.models.discounts import DISCOUNT_KINDS, DiscountCard, SaleDiscount
from app.models.invoicing import CreditMemo, SerialCounter, SerialSeries
from app.models.payments import (
    ACTIVE_PAYMENT_PREDICATE,
    ACTIVE_STATUSES,
    CheckoutState,
    IdempotencyKey,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentEvent,
    PaymentMethod,
    PaymentStatus,
    TaxRecord,
)
from app.models.people import STAFF_RANK, Consultation, RecoveryCode, Role, User, new_session_token
from app.models.provider import (
    GatewayEvent,
    ProviderRequest,
    ProviderRequestState,
    SandboxRefund,
)

__all__ = [
    "AuditAction",
    "AuditEvent",
    "DayClosing",
    "RecoveryCode",
    "STAFF_RANK",
    "ACTIVE_PAYMENT_PREDICATE",
    "ACTIVE_STATUSES",
    "CENT",
    "CURRENCY",
    "CheckoutState",
    "DISCOUNT_KINDS",
    "DiscountCard",
    "MIN_CHARGE",
    "MIN_FEE",
    "SaleDiscount",
    "Consultation",
    "CreditMemo",
    "GatewayEvent",
    "IdempotencyKey",
    "Invoice",
    "InvoiceStatus",
    "JSONType",
    "Money",
    "Payment",
    "PaymentEvent",
    "PaymentMethod",
    "PaymentStatus",
    "ProviderRequest",
    "ProviderRequestState",
    "Role",
    "SandboxRefund",
    "SerialCounter",
    "SerialSeries",
    "TaxRecord",
    "UTCDateTime",
    "User",
    "money",
    "new_session_token",
    "one_of",
    "utcnow",
]
