"""Fire N calls at once: threads released together by a barrier (no sleeps)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.support.api import PAYMENTS


def storm(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` for i in range(n), all released at the same instant."""
    barrier = threading.Barrier(n)

    def run(i: int):
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: dict


def post_json(url: str, body: dict, headers: dict[str, str], timeout: float = 30) -> HttpResult:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    return _send(request, timeout)


def get_json(url: str, headers: dict[str, str], timeout: float = 30) -> HttpResult:
    return _send(urllib.request.Request(url, method="GET", headers=headers), timeout)


def pay_over_http(
    base_url: str, user, consultation_id: int, *, key: str | None = None, method: str = "gcash"
) -> HttpResult:
    """``POST /api/v1/payments`` on a live server (gunicorn), as ``api.pay`` does in-process."""
    body = {"consultation_id": consultation_id, "payment_method": method}
    headers = {"Authorization": f"Bearer {user.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return post_json(f"{base_url}{PAYMENTS}", body, headers)


def payment_over_http(base_url: str, user, payment_id: int) -> HttpResult:
    """``GET /api/v1/payments/<id>`` on a live server."""
    return get_json(f"{base_url}{PAYMENTS}/{payment_id}", {"Authorization": f"Bearer {user.token}"})


def _send(request: urllib.request.Request, timeout: float) -> HttpResult:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return HttpResult(r.status, dict(r.headers), json.loads(r.read() or b"{}"))
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {"raw": raw.decode("utf-8", "replace")}
        return HttpResult(e.code, dict(e.headers), parsed)


def http_storm(urls: list[str], patient, consultation_id, key_for, n: int = 50):
    def call(i):
        url = urls[i % len(urls)]
        return pay_over_http(url, patient, consultation_id, key=key_for(i), method="bank_transfer")

    return storm(n, call)


def assert_one_key_storm(results):
    statuses = Counter(r.status for r in results)
    assert statuses == {201: len(results)}, statuses
    assert len({r.body["data"]["payment"]["id"] for r in results}) == 1


def assert_many_keys_storm(results):
    statuses = Counter(r.status for r in results)
    assert statuses == {201: 1, 409: len(results) - 1}, statuses
    winner = next(r.body["data"]["payment"]["id"] for r in results if r.status == 201)
    assert {r.body["existing_payment_id"] for r in results if r.status == 409} == {winner}
