"""Pay storms against a real app server while PostgreSQL fails over (tests and a hand-run report).

``run_failover_storm`` starts a gunicorn app on a ``ReplicatedPostgres`` pair, keeps
``THREADS`` patients pressing Pay (the JSON API with one shared key, with a fresh key per
press on one consultation, a fresh payment per press, and the HTML form posted twice), kills
the primary mid-storm, promotes the standby ``OUTAGE`` seconds later, and keeps paying
``AFTER_PROMOTION`` seconds more; a second, quiet instance reads before the storm and
again after it, its pooled connections idle through the failover. It returns every answer
with its timing; the test asserts
on it, and ``python -m tests.support.failover --async --runs 5 [--stall 0.5]`` counts the
acknowledged payments an asynchronous standby lost (docs/operations.md, "Database failover").
"""

from __future__ import annotations

import argparse
import http.cookiejar
import itertools
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.support.api import ApiClient
from tests.support.factory import PASSWORD, Factory
from tests.support.html import hidden_inputs
from tests.support.live import LiveServer
from tests.support.services import ReplicatedPostgres
from tests.support.storm import HttpResult, pay_over_http, payment_over_http, storm

THREADS = 8
KILL_AFTER = 1.5  # seconds of paying before the primary dies
OUTAGE = 2.0  # seconds from the kill to the promotion (an operator's or Patroni's detection)
AFTER_PROMOTION = 4.0  # seconds of paying on the promoted standby
PAUSE = 0.1  # seconds between one patient's presses: a few hundred requests in all
FRESH_CONSULTATIONS = 300  # more than the storm uses; past them a press repeats the one key
KINDS = ("api-fresh", "api-one-key", "api-many-keys", "form")
SUMMARY_KINDS = (*KINDS, "form-page")
SAFE_RETRY_WORDS = "nothing was charged"
QUIET_READS = 4  # the quiet instance's threads: each read holds one pooled connection


@dataclass
class Answer:
    """One press: what was sent, what came back, and when (monotonic seconds)."""

    kind: str
    key: str
    status: int
    started: float
    ended: float
    retry_after: str | None
    payment_id: int | None
    consultation_id: int
    body: str = ""


@dataclass
class StormResult:
    answers: list[Answer]
    killed_at: float
    promoted_at: float
    app: object  # the in-process app on the pair, for checks in the database
    patient: object
    server_log: str = ""
    webhook_mid_outage: tuple | None = None
    notes: dict = field(default_factory=dict)

    def statuses(self) -> Counter:
        return Counter((a.kind, a.status) for a in self.answers)

    def acknowledged(self) -> set[int]:
        """Payments the app answered as made: a 201, or a form's 303 to the payment page."""
        return {a.payment_id for a in self.answers if a.status in (201, 303) and a.payment_id}

    def lost(self) -> set[int]:
        """Acknowledged payments the promoted standby does not have."""
        acknowledged = sorted(self.acknowledged())
        with self.app.app_context():
            found = db.session.execute(
                text("SELECT id FROM payments WHERE id = ANY(:ids)"), {"ids": acknowledged}
            ).scalars()
            present = set(found)
            db.session.rollback()
        return set(acknowledged) - present

    def first_new_payment_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the end of the first fresh payment started after it."""
        made = [
            a.ended
            for a in self.answers
            if a.kind in ("api-fresh", "form") and a.started >= moment and a.status in (201, 303)
        ]
        return min(made) - moment if made else None

    def refused_fresh_after(self, moment: float) -> list[Answer]:
        """Fresh payments started after ``moment`` that were not made."""
        return [
            a
            for a in self.answers
            if a.kind in ("api-fresh", "form", "form-page")
            and a.started >= moment
            and a.status not in (200, 201, 303)
        ]


class FormSession:
    """A patient's browser without JavaScript: cookies, and no redirects followed."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), self._NoRedirect()
        )

    def send(self, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base_url + path, data=data, timeout=30) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def log_in(self, email: str) -> None:
        status, _, _ = self.send("/login", {"email": email, "password": PASSWORD})
        assert status in (302, 303), status


def _payment_id(answer: HttpResult) -> int | None:
    if answer.status == 201:
        return answer.body["data"]["payment"]["id"]
    return None


class Storm:
    """The presses, each recorded as an ``Answer``; fresh consultations come from a queue."""

    def __init__(self, server: LiveServer, patient, consultations: dict, fresh: queue.Queue):
        self.server = server
        self.patient = patient
        self.consultations = consultations
        self.fresh = fresh
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._keys = itertools.count()

    def record(self, kind, key, consultation_id, started, status, headers, paid, body) -> None:
        ended = time.monotonic()
        retry_after = headers.get("Retry-After")
        answer = Answer(kind, key, status, started, ended, retry_after, paid, consultation_id)
        if status >= 500:
            answer.body = body[:2000]
        with self._lock:
            self.answers.append(answer)

    def api(self, kind: str, consultation_id: int, key: str) -> None:
        started = time.monotonic()
        try:
            result = pay_over_http(self.server.url, self.patient, consultation_id, key=key)
        except OSError as exc:  # the server itself did not answer: counted, never hidden
            self.record(kind, key, consultation_id, started, 0, {}, None, repr(exc))
            return
        paid = _payment_id(result)
        body = str(result.body)
        self.record(kind, key, consultation_id, started, result.status, result.headers, paid, body)

    def form(self, browser: FormSession) -> None:
        consultation_id = self.fresh.get_nowait()
        path = f"/consultations/{consultation_id}/checkout"
        started = time.monotonic()
        status, headers, page = browser.send(path)
        if status != 200:
            self.record("form-page", path, consultation_id, started, status, headers, None, page)
            return
        fields = {**hidden_inputs(page), "payment_method": "gcash"}
        for _ in range(2):  # the patient presses Pay twice: one payment, the same page
            started = time.monotonic()
            status, headers, page = browser.send(path, fields)
            location = headers.get("Location", "")
            paid = int(location.rsplit("/", 1)[1]) if status == 303 else None
            token = fields["checkout_token"]
            self.record("form", token, consultation_id, started, status, headers, paid, page)

    def press(self, i: int, n: int, browser: FormSession) -> None:
        kind = KINDS[(i + n) % len(KINDS)]
        if kind in ("form", "api-fresh") and self.fresh.empty():
            kind = "api-one-key"
        if kind == "form":
            self.form(browser)
        elif kind == "api-fresh":
            self.api(kind, self.fresh.get_nowait(), f"fresh-{next(self._keys)}")
        elif kind == "api-one-key":
            self.api(kind, self.consultations["one-key"], "one-key")
        else:
            self.api(kind, self.consultations["many-keys"], f"many-{next(self._keys)}")

    def run(self, until: threading.Event, email: str) -> None:
        def patient(i: int) -> None:
            browser = FormSession(self.server.url)
            browser.log_in(email)
            for n in itertools.count():
                if until.is_set():
                    return
                self.press(i, n, browser)
                time.sleep(PAUSE)

        threads = [threading.Thread(target=patient, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def read_payment_together(server: LiveServer, patient, payment_id: int) -> list[int]:
    """``QUIET_READS`` reads of one payment at once (each holds one pooled connection);
    their statuses."""
    return [
        r.status
        for r in storm(QUIET_READS, lambda i: payment_over_http(server.url, patient, payment_id))
    ]


def app_config(database_url: str, redis_url: str | None) -> dict:
    return {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "DB_POOL_SIZE": 5,
    }


def prepare(pair: ReplicatedPostgres, redis_url: str | None):
    """The ``checkout`` database on the pair, migrated; an app on it and the storm's data."""
    from tests.conftest import migrate_database

    pair.primary.sql("CREATE DATABASE checkout")
    url = pair.hosts_url("checkout")
    migrate_database(url)
    app = create_app(app_config(url, redis_url))
    factory = Factory(app)
    patient = factory.patient()
    consultations = {name: factory.consultation(patient).id for name in ("one-key", "many-keys")}
    # A pending payment whose provider notification arrives mid-outage.
    consultations["webhook-payment"] = ApiClient(app).new_payment(
        patient, factory.consultation(patient).id
    )
    fresh: queue.Queue = queue.Queue()
    for _ in range(FRESH_CONSULTATIONS):
        fresh.put(factory.consultation(patient).id)
    return url, app, patient, consultations, fresh


def run_failover_storm(
    pair: ReplicatedPostgres,
    redis_url: str | None,
    *,
    server_url: str | None = None,
    server_env: dict[str, str] | None = None,
    webhook=None,
    stall: float = 0.0,
) -> StormResult:
    """Pay through a failover of ``pair``; ``server_url`` (default: both hosts) is the
    ``DATABASE_URL`` the app server gets. ``webhook(server, app, payment_id)`` runs between
    the kill and the promotion, for a pending payment made before the storm."""
    url, app, patient, consultations, fresh = prepare(pair, redis_url)
    server = LiveServer(
        database_url=server_url or url,
        redis_url=redis_url,
        workers=2,
        threads=4,
        env={"DB_POOL_SIZE": "5", **(server_env or {})},
    ).start()
    # A second instance that only reads, warmed up, then idle through the whole failover.
    quiet = LiveServer(database_url=server_url or url, redis_url=redis_url, workers=1, threads=4)
    quiet.start()
    reads = partial(read_payment_together, quiet, patient, consultations["webhook-payment"])
    presses = Storm(server, patient, consultations, fresh)
    done = threading.Event()
    payer = threading.Thread(target=presses.run, args=(done, patient.email))
    mid_outage = None
    try:
        assert reads() == [200] * QUIET_READS, "the quiet instance did not warm up"
        payer.start()
        time.sleep(KILL_AFTER - stall)
        if stall:
            pair.stall_replication()
            time.sleep(stall)
        killed_at = time.monotonic()
        pair.kill_primary()
        if webhook is not None:
            mid_outage = webhook(server, app, consultations["webhook-payment"])
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - killed_at)))
        pair.promote()
        promoted_at = time.monotonic()
        time.sleep(AFTER_PROMOTION)
    finally:
        done.set()
        payer.join()
        server.stop()
    try:
        quiet_after = reads()
    finally:
        quiet.stop()
    return StormResult(
        presses.answers,
        killed_at,
        promoted_at,
        app,
        patient,
        server.log_path.read_text(),
        webhook_mid_outage=mid_outage,
        notes={"webhook-payment": consultations["webhook-payment"], "quiet-after": quiet_after},
    )


def summary(result: StormResult) -> str:
    by_kind = {
        kind: dict(sorted(Counter(a.status for a in result.answers if a.kind == kind).items()))
        for kind in SUMMARY_KINDS
    }
    first = result.first_new_payment_after(result.promoted_at)
    return (
        f"{len(result.answers)} requests {by_kind}; acknowledged {len(result.acknowledged())}, "
        f"lost {len(result.lost())}; first new payment "
        f"{first if first is None else round(first, 2)} s after promotion, "
        f"{round(first + (result.promoted_at - result.killed_at), 2) if first else None} s "
        f"after the kill; the quiet instance's reads after it: {result.notes['quiet-after']}"
    )


def main() -> None:
    """Count acknowledged payments lost over several failovers (by hand, not in make test)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--async", dest="asynchronous", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--stall", type=float, default=0.0, help="seconds of replication lag before the kill"
    )
    options = parser.parse_args()
    lost_total = 0
    for run in range(1, options.runs + 1):
        pair = ReplicatedPostgres(synchronous=not options.asynchronous).start()
        try:
            result = run_failover_storm(pair, None, stall=options.stall)
            lost_total += len(result.lost())
            print(f"run {run}: {summary(result)}", flush=True)
            with result.app.app_context():
                db.engine.dispose()
        finally:
            pair.destroy()
    mode = "asynchronous" if options.asynchronous else "synchronous"
    print(
        f"{mode}, stall {options.stall} s: {lost_total} acknowledged payments lost "
        f"over {options.runs} runs"
    )


if __name__ == "__main__":
    main()
