"""Lighthouse on the login, checkout, payment and staff invoice pages, mobile and desktop.

``make lighthouse`` (docs/testing.md). Production-style: its own PostgreSQL and Redis
(tests/support/services.py), ``flask db upgrade``, a patient with a consultation and a
completed payment and a staff member (the test suite's factory), and gunicorn with
``gunicorn.conf.py`` and ``APP_ENV=production`` (tests/support/live.py). The patient's and the
staff member's pages are opened with the session cookie a real login answered with.

Lighthouse itself comes from npm (``LIGHTHOUSE``, default ``.lighthouse/node_modules``, which the
make target fills) and drives Chromium (``CHROME_PATH``, default ``/usr/bin/chromium``), with
Lighthouse's own throttling; ``LIGHTHOUSE_CPU_MULTIPLIER`` sets the mobile CPU slowdown (4x by
default, which assumes a fast desktop host).
Prints the scores as a Markdown table, and every audit below 1 in the four categories; writes
each JSON report to test-artifacts/lighthouse/. Exits 1 unless every score is 100.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request

from flask_migrate import upgrade

from app import create_app
from app.config import DEMO_CLINIC, ROOT
from app.extensions import db
from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory
from tests.support.live import LiveServer
from tests.support.services import PostgresServer, RedisServer

CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
FORM_FACTORS = ("mobile", "desktop")
LIGHTHOUSE = ROOT / ".lighthouse" / "node_modules" / "lighthouse" / "cli" / "index.js"
REPORTS = ROOT / "test-artifacts" / "lighthouse"


def seed(database_url: str) -> dict:
    """Migrate, then a patient with a paid consultation and an unpaid one, and staff."""
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False}
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    factory = Factory(app)
    patient, staff = factory.patient(name="Maria Santos"), factory.staff(name="Jose Reyes")
    unpaid = factory.consultation(patient, doctor="Dr. Ana Cruz")
    paid = factory.consultation(patient, fee="1500", doctor="Dr. Ramon Dela Cruz")
    api = ApiClient(app)
    created = api.pay(patient, paid, key="lighthouse-1")
    assert created.status_code == 201, created.json
    data = created.json["data"]
    confirmed = api.confirm(staff, data["payment"]["id"], "txn_lighthouse_1")
    assert confirmed.status_code == 200, confirmed.json
    with app.app_context():
        db.engine.dispose()
    return {
        "patient": patient,
        "staff": staff,
        "checkout": f"/consultations/{unpaid.id}/checkout",
        "payment": f"/payments/{data['payment']['id']}",
        "invoice": f"/staff/invoices/{data['invoice']['invoice_number']}",
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def session_cookie(base_url: str, email: str) -> str:
    """``session=...`` from a real login on the server."""
    form = urllib.parse.urlencode({"email": email, "password": PASSWORD}).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(base_url + "/login", data=form)
    except urllib.error.HTTPError as answer:  # the 302 after a login
        cookie = answer.headers["Set-Cookie"]
        assert answer.code == 302 and cookie, answer.code
        return cookie.split(";", 1)[0]
    raise RuntimeError("the login did not redirect")


def lighthouse(
    url: str, form_factor: str, cookie: str | None, name: str, multiplier: float | None = None
) -> dict:
    """One Lighthouse run; the parsed JSON report."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{name}-{form_factor}.json"
    command = [
        "node",
        os.environ.get("LIGHTHOUSE", str(LIGHTHOUSE)),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={report}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        *(["--preset=desktop"] if form_factor == "desktop" else []),
        *(
            [f"--throttling.cpuSlowdownMultiplier={multiplier}"]
            if multiplier is not None and form_factor == "mobile"
            else []
        ),
        *([f"--extra-headers={json.dumps({'Cookie': cookie})}"] if cookie else []),
    ]
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    # Lighthouse now and then loses the trace of a load ("NO_NAVSTART ... run Lighthouse
    # again"): a second attempt, never a third.
    if subprocess.run(command, env=env).returncode != 0:
        subprocess.run(command, check=True, env=env)
    return json.loads(report.read_text())


def failing_audits(result: dict) -> list[str]:
    lines = []
    for category in CATEGORIES:
        for ref in result["categories"][category]["auditRefs"]:
            audit = result["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                lines.append(f"  {category}: {audit['id']} ({audit['score']}): {audit['title']}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", nargs="*", help="login checkout payment invoice (default all)")
    parser.add_argument("--form-factors", nargs="*", default=list(FORM_FACTORS))
    args = parser.parse_args()
    postgres, redis = PostgresServer().start(), RedisServer().start()
    server = None
    try:
        database_url = postgres.url
        world = seed(database_url)
        server = LiveServer(
            database_url=database_url,
            redis_url=redis.url,
            workers=2,
            config_file=str(ROOT / "gunicorn.conf.py"),
            env={
                "APP_ENV": "production",
                "SECRET_KEY": secrets.token_hex(32),
                "GATEWAY_WEBHOOK_SECRET": secrets.token_hex(16),
                **DEMO_CLINIC,
            },
        ).start()
        patient = session_cookie(server.url, world["patient"].email)
        staff = session_cookie(server.url, world["staff"].email)
        pages = {
            "login": ("/login", None),
            "checkout": (world["checkout"], patient),
            "payment": (world["payment"], patient),
            "invoice": (world["invoice"], staff),
        }
        # Lighthouse's own throttling unless told (docs/testing.md: a slow or busy host).
        multiplier = os.environ.get("LIGHTHOUSE_CPU_MULTIPLIER")
        chosen = args.pages or list(pages)
        rows, failures = [], []
        for name in chosen:
            path, cookie = pages[name]
            for form_factor in args.form_factors:
                result = lighthouse(server.url + path, form_factor, cookie, name, multiplier)
                scores = [round(result["categories"][c]["score"] * 100) for c in CATEGORIES]
                host = round(result["environment"]["benchmarkIndex"])
                cells = [name, form_factor, *map(str, scores), str(host)]
                rows.append("| " + " | ".join(cells) + " |")
                failures += [f"{name} {form_factor}:", *failing_audits(result)]
                if min(scores) < 100:
                    failures.append(f"  below 100: {dict(zip(CATEGORIES, scores, strict=True))}")
        titles = ["Page", "Form factor", *(c.title() for c in CATEGORIES), "Host benchmarkIndex"]
        print("| " + " | ".join(titles) + " |")
        print("|---|---|" + "---:|" * (len(CATEGORIES) + 1))
        print("\n".join(rows))
        below = [line for line in failures if line.startswith("  ")]
        if below:
            print("\n".join(failures), file=sys.stderr)
        return 1 if any("below 100" in line for line in below) else 0
    finally:
        if server is not None:
            server.stop()
        redis.stop()
        postgres.destroy()


if __name__ == "__main__":
    sys.exit(main())
