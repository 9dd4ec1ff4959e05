"""Unit-test fixtures: no database, no servers."""

from __future__ import annotations

import pytest
from flask import Flask


@pytest.fixture
def clinic_time():
    """An app context whose ``CLINIC_TIMEZONE`` is Asia/Manila, for code that shows times."""
    app = Flask(__name__)
    app.config["CLINIC_TIMEZONE"] = "Asia/Manila"
    with app.app_context():
        yield
