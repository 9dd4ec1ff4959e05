"""``flask payments ...``: operator commands for the payment lifecycle."""

from flask.cli import AppGroup

payments_cli = AppGroup("payments", help="Payment lifecycle commands.")
