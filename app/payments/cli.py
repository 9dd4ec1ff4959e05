"""``flask payments ...``: operator commands for the payment lifecycle."""

import click
from flask.cli import AppGroup

from app.payments import idempotency, lifecycle

payments_cli = AppGroup("payments", help="Payment lifecycle commands.")


@payments_cli.command("expire-stale")
def expire_stale() -> None:
    """Expire pending payments older than PAYMENT_PENDING_TTL and void their invoices.

    Safe to run at any time and as often as you like (e.g. from cron every minute):
    each payment is locked and re-checked before it changes.
    """
    count = lifecycle.expire_stale()
    noun = "payment" if count == 1 else "payments"
    click.echo(f"Expired {count} stale pending {noun}.")


@payments_cli.command("purge-keys")
def purge_keys() -> None:
    """Delete idempotency keys past IDEMPOTENCY_TTL (their Redis copies expire on their own).

    An expired key is already treated as new when it comes back; this only keeps the
    table from growing forever. Safe to run at any time, e.g. daily from cron.
    """
    count = idempotency.purge_expired()
    noun = "key" if count == 1 else "keys"
    click.echo(f"Deleted {count} expired idempotency {noun}.")
