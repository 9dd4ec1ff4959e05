"""``flask users set-discount``: record or clear a patient's senior citizen / PWD card."""

from __future__ import annotations

import click

from app.cli import users_cli
from app.discounts.cards import InvalidCard, NoSuchPatient, clear_card, parse_card, record_card
from app.payments.pricing import DiscountKind


@users_cli.command("set-discount")
@click.argument("email")
@click.option("--kind", type=click.Choice([k.value for k in DiscountKind]))
@click.option("--id-number", help="The OSCA or PWD ID number as printed on the card.")
@click.option("--name", "holder_name", help="The name on the card.")
@click.option("--clear", is_flag=True, help="Remove the patient's card instead.")
def users_set_discount(
    email: str, kind: str | None, id_number: str | None, holder_name: str | None, clear: bool
) -> None:
    """Record the card of the patient EMAIL after seeing it (or --clear it)."""
    try:
        if clear:
            if kind or id_number or holder_name:
                raise click.UsageError("--clear takes no --kind, --id-number or --name.")
            removed = clear_card(email, actor="cli")
            click.echo(
                f"Cleared the discount card of {email}." if removed else f"{email} had no card."
            )
            return
        card = record_card(email, parse_card(kind, id_number, holder_name), actor="cli")
    except InvalidCard as exc:
        raise click.UsageError(str(exc)) from exc
    except NoSuchPatient as exc:
        raise click.ClickException(f"No patient with email {email}.") from exc
    click.echo(f"Recorded {card.kind} ID {card.id_number} ({card.holder_name}) for {email}.")
