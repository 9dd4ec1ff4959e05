"""Roles: the ranking, and a declared role on every staff route (read from the URL map)."""

from __future__ import annotations

import pytest

from app import create_app
from app.auth.roles import required_role
from app.models import Role, User

# Staff-only API endpoints: the others serve patients (and staff) by row, not by role.
STAFF_API_ENDPOINTS = {"api.confirm_payment", "api.refund_payment"}


@pytest.fixture(scope="module")
def app():
    return create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def _staff_endpoints(app) -> set[str]:
    found = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/staff/")}
    return found | STAFF_API_ENDPOINTS


def test_every_staff_route_declares_its_role(app):
    undeclared = sorted(
        e for e in _staff_endpoints(app) if required_role(app.view_functions[e]) is None
    )
    assert not undeclared, f"add @requires_role(Role...) (or token_role) to: {undeclared}"


def test_money_and_people_changes_are_a_managers_and_reading_a_cashiers(app):
    declared = {e: required_role(app.view_functions[e]) for e in _staff_endpoints(app)}
    managers = {e for e, role in declared.items() if role == Role.MANAGER}
    assert {
        "invoices.refund",
        "invoices.confirm_refund",
        "invoices.delete",
        "invoices.confirm_delete",
        "invoices.show_delete_confirmation",
        "invoices.show_refund_confirmation",
        "api.refund_payment",
        "staff.staff_accounts",
        "staff.disable_account",
        "staff.confirm_two_factor_reset",
        "staff.reset_two_factor",
        "staff.audit_trail",
    } <= managers
    assert declared["invoices.list_invoices"] == Role.CASHIER
    assert declared["invoices.export_csv"] == Role.CASHIER


@pytest.mark.parametrize(
    ("role", "asked", "allowed"),
    [
        ("manager", Role.MANAGER, True),
        ("manager", Role.CASHIER, True),
        ("cashier", Role.CASHIER, True),
        ("cashier", Role.MANAGER, False),
        ("patient", Role.CASHIER, False),
        ("patient", Role.PATIENT, True),
        ("manager", Role.PATIENT, False),
    ],
)
def test_a_manager_may_do_all_a_cashier_may_and_patients_nothing_staff_may(role, asked, allowed):
    assert User(role=role).has_role(asked) is allowed
