"""``flask payments ...``: operator commands for the payment lifecycle."""

import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from app.gateway import webhooks
from app.gateway.provider import current_gateway
from app.payments import checkout_session, idempotency, lifecycle, refund_worker

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
    # Their hosted checkouts at the provider too (what fails here, `sync` retries).
    checkout_session.expire_closed(current_gateway())


@payments_cli.command("sync")
def sync() -> None:
    """Ask the payment provider about every open hosted checkout and apply what it says.

    A paid one is applied exactly as its webhook would have been (same code, same event
    dedupe): this is how a lost webhook is recovered. One whose payment we cancelled or
    expired is expired at the provider. Safe from cron and with several copies at once;
    run it every few minutes (docs/operations.md).
    """
    click.echo(checkout_session.sync(current_gateway(), webhooks.apply).summary())


@payments_cli.command("purge-keys")
def purge_keys() -> None:
    """Delete idempotency keys past IDEMPOTENCY_TTL (their Redis copies expire on their own).

    An expired key is already treated as new when it comes back; this only keeps the
    table from growing forever. Safe to run at any time, e.g. daily from cron.
    """
    count = idempotency.purge_expired()
    noun = "key" if count == 1 else "keys"
    click.echo(f"Deleted {count} expired idempotency {noun}.")


@payments_cli.command("send-outbox")
@click.option("--forever", is_flag=True, help="Keep running; stop on SIGTERM or Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 60),
    default=None,
    help="With --forever: seconds to sleep when nothing was due (default OUTBOX_POLL_SECONDS).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Most rows sent per pass.",
)
def send_outbox(forever: bool, interval: float | None, limit: int) -> None:
    """Send pending refunds to the payment provider, each with its idempotency key.

    Safe from cron (e.g. every minute) and with several copies at once: rows are
    claimed with FOR UPDATE SKIP LOCKED and a lease (OUTBOX_LEASE_SECONDS), and the
    provider acts once per key. Timeouts and 5xx are retried with exponential backoff
    (OUTBOX_RETRY_BASE_SECONDS .. OUTBOX_RETRY_MAX_SECONDS); refusals go to the staff
    attention page.
    """
    if not forever:
        click.echo(refund_worker.send_pending(current_gateway(), limit=limit).summary())
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    seconds = interval if interval is not None else current_app.config["OUTBOX_POLL_SECONDS"]
    click.echo(
        f"Sending the outbox every {seconds:g}s when idle; SIGTERM stops after the current row."
    )
    refund_worker.run_forever(
        current_gateway(),
        interval=min(max(seconds, 0.1), 60),
        limit=limit,
        stop=stop,
        echo=click.echo,
    )
    click.echo("Stopped.")
