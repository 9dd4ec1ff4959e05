"""Times are stored as UTC instants on every dialect and read in clinic time.

The bug this guards: on SQLite, ``--at 2026-12-01T10:30+08:00`` was stored as 10:30 UTC
(SQLite keeps no offset, and the offset was dropped instead of converted).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app.cli import AT_EXAMPLE
from app.extensions import db
from app.models import Consultation
from tests.support.auth import AuthActions
from tests.support.factory import Factory


@pytest.fixture(params=["postgresql", "sqlite"])
def any_app(request):
    return request.getfixturevalue("app" if request.param == "postgresql" else "sqlite_app")


OFFSETS = [timedelta(hours=8), timedelta(hours=-5), timedelta(hours=5, minutes=45), timedelta(0)]


@pytest.mark.parametrize("offset", OFFSETS, ids=["+08:00", "-05:00", "+05:45", "UTC"])
def test_an_aware_time_round_trips_as_the_same_instant(any_app, offset):
    local = datetime(2026, 12, 1, 10, 30, tzinfo=timezone(offset))
    patient = Factory(any_app).patient()
    with any_app.app_context():
        c = Consultation(patient_id=patient.id, doctor_name="Dr. T", scheduled_at=local, fee=1000)
        db.session.add(c)
        db.session.commit()
        cid = c.id
        db.session.expire_all()
        back = db.session.get(Consultation, cid).scheduled_at
        assert back == local and back.utcoffset() == timedelta(0)
        # and the stored value itself is the UTC wall time, whatever the dialect keeps
        raw = db.session.execute(
            text("SELECT scheduled_at FROM consultations WHERE id = :id"), {"id": cid}
        ).scalar_one()
        db.session.rollback()
    stored = raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
    assert stored.replace(tzinfo=None) == local.astimezone(UTC).replace(tzinfo=None)


def test_the_cli_example_is_accepted_and_stored_as_that_instant(any_app):
    factory = Factory(any_app)
    patient = factory.patient(email="clinic-time@example.test")
    result = any_app.test_cli_runner().invoke(
        args=[
            "consultations",
            "create",
            "--patient",
            patient.email,
            "--fee",
            "1250",
            "--at",
            AT_EXAMPLE,
        ]
    )
    assert result.exit_code == 0, result.output
    cid = int(result.output.strip())
    with any_app.app_context():
        c = db.session.get(Consultation, cid)
        assert c.scheduled_at == datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
        db.session.rollback()
    # and the patient reads it back in clinic time, the zone named once in the footer
    page = AuthActions(any_app).session_for(patient).get(f"/consultations/{cid}/checkout").text
    assert "1 Dec 2026, 10:30<" in page and "Times are Asia/Manila time." in page


def test_the_cli_refusals_quote_an_example_the_cli_accepts(app):
    runner = app.test_cli_runner()
    Factory(app).patient(email="p2@example.test")
    base = ["consultations", "create", "--patient", "p2@example.test", "--fee", "1250", "--at"]
    for bad in ("tomorrow", "2026-12-01T10:30"):
        refused = runner.invoke(args=[*base, bad])
        assert refused.exit_code == 2
        example = re.search(r"e\.g\. (\S+)", refused.output).group(1)
        assert runner.invoke(args=[*base, example]).exit_code == 0


def test_an_unknown_clinic_time_zone_stops_the_app_at_start_up(monkeypatch):
    from app import create_app
    from app.config import ConfigError

    monkeypatch.setenv("CLINIC_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match="CLINIC_TIMEZONE"):
        create_app({"APP_ENV": "testing"})
