"""Post/redirect/get for the staff forms: every POST answers with a redirect, so reloading a
page never sends a form again. What a refused form said (its values, its errors, the status
of the refusal) and the refund waiting for confirmation are kept in the session for the page
the browser is sent to, which shows them once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import session
from flask_wtf import FlaskForm

_REFUSED = "invoice_form_refused"
_TO_CONFIRM = "invoice_refund_to_confirm"
_DELETE_TO_CONFIRM = "invoice_delete_to_confirm"
_NOT_KEPT = ("csrf_token", "submit")


def keep_refused(number: str, form_name: str, form: FlaskForm, status: int) -> None:
    """Keep ``form``'s values and errors (rendered now, in the reader's language)."""
    session[_REFUSED] = {
        "number": number,
        "form": form_name,
        "data": {f.name: f.data for f in form if f.name not in _NOT_KEPT},
        "errors": {f.name: [str(e) for e in f.errors] for f in form if f.errors},
        "status": status,
    }


def take_refused(number: str, forms: dict[str, type[FlaskForm]]) -> tuple[dict, int]:
    """The refused form kept for invoice ``number``, rebuilt with its errors, once:
    ``({form_name: form}, status)``, or ``({}, 200)``."""
    kept = session.get(_REFUSED)
    if not kept or kept.get("number") != number or kept.get("form") not in forms:
        return {}, 200
    session.pop(_REFUSED)
    form = forms[kept["form"]](formdata=None, data=kept["data"])
    for name, errors in kept["errors"].items():
        form[name].errors = list(errors)
    return {kept["form"]: form}, int(kept["status"])


def keep_to_confirm(number: str, amount: Decimal, reason: str, version: int) -> None:
    """The refund staff asked for, shown by the confirmation page until done or replaced."""
    session[_TO_CONFIRM] = {
        "number": number,
        "amount": f"{amount:.2f}",
        "reason": reason,
        "version": version,
    }


def to_confirm(number: str) -> dict[str, Any] | None:
    kept = session.get(_TO_CONFIRM)
    return kept if kept and kept.get("number") == number else None


def keep_delete_to_confirm(number: str, reason: str, version: int) -> None:
    """The deletion staff asked for, shown by its confirmation page until done or replaced."""
    session[_DELETE_TO_CONFIRM] = {"number": number, "reason": reason, "version": version}


def delete_to_confirm(number: str) -> dict[str, Any] | None:
    kept = session.get(_DELETE_TO_CONFIRM)
    return kept if kept and kept.get("number") == number else None


def forget_to_confirm() -> None:
    """Forget the refund and the deletion waiting for confirmation (one was just done)."""
    session.pop(_TO_CONFIRM, None)
    session.pop(_DELETE_TO_CONFIRM, None)
