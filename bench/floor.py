"""The benchmark's floor: the product's guarded create and Redis replay in the fewest raw
statements, as a bare WSGI app (psycopg + redis-py, no framework, no ORM).

Never part of the product, never imported by it: ``bench.run`` serves it with the same
gunicorn shape (``bench.floor:app``) and drives it with the same wrk scripts, so the
report can say how far the product's request path is from what the stack itself can do.

Per create, on the product's schema and seed (bench/seed.py): a Redis read; one
transaction of six statements: the token and the consultation in one read, the key's
claim (``INSERT ... ON CONFLICT DO NOTHING``), ``SELECT ... FOR UPDATE`` on the
consultation, the active-payment re-check, payment + tax record + invoice + "created"
event in one statement (a data-modifying CTE), the key's stored answer; then a Redis
write. A replay is one Redis read. It keeps what the guarantee needs (durable claim,
row lock, re-check, the partial unique index) and drops everything else: validation
beyond the fields it reads, error pages, logging, timeouts, rate limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import redis

TTL = 86_400
VAT_RATE = Decimal("0.12")
CENT = Decimal("0.01")

_local = threading.local()
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def _conn() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
        conn = _local.conn = psycopg.connect(url)
    return conn


AUTH_AND_CONSULTATION = """
SELECT u.id, c.patient_id, c.fee, c.currency
FROM users u LEFT JOIN consultations c ON c.id = %(cid)s
WHERE u.api_token_hash = %(token)s
"""
CLAIM = """
INSERT INTO idempotency_keys (user_id, key_hash, fingerprint, state, created_at, expires_at)
VALUES (%(uid)s, %(key)s, %(fp)s, 'processing', %(now)s, %(expires)s)
ON CONFLICT (user_id, key_hash) DO NOTHING RETURNING id
"""
STORED = """
SELECT fingerprint, response_status, response_body, response_headers
FROM idempotency_keys WHERE user_id = %(uid)s AND key_hash = %(key)s FOR UPDATE
"""
LOCK = "SELECT id FROM consultations WHERE id = %(cid)s FOR UPDATE"
ACTIVE = """
SELECT id, status FROM payments
WHERE consultation_id = %(cid)s AND status IN ('pending', 'processing', 'completed')
  AND deleted_at IS NULL
"""
CREATE = """
WITH p AS (
  INSERT INTO payments (user_id, consultation_id, amount, currency, payment_method, status,
                        version, idempotency_key_hash, created_at, updated_at)
  VALUES (%(uid)s, %(cid)s, %(total)s, %(currency)s, %(method)s, 'pending', 1, %(key)s,
          %(now)s, %(now)s)
  RETURNING id
), t AS (
  INSERT INTO tax_records (payment_id, user_id, amount, tax_type, rate, taxable_base,
                           prices_include_vat, status, created_at)
  SELECT id, %(uid)s, %(vat)s, 'VAT', %(rate)s, %(base)s, true, 'calculated', %(now)s FROM p
), i AS (
  INSERT INTO invoices (payment_id, user_id, reference, amount, status, issued_at)
  SELECT id, %(uid)s, %(number)s || id, %(total)s, 'pending', %(now)s FROM p
  RETURNING id, reference
), e AS (
  INSERT INTO payment_events (payment_id, consultation_id, event_type, actor, data, created_at)
  SELECT id, %(cid)s, 'created', %(actor)s, %(data)s, %(now)s FROM p
)
SELECT p.id, i.id, i.reference FROM p, i
"""
FINISH = """
UPDATE idempotency_keys SET state = 'completed', response_status = %(status)s,
       response_body = %(body)s, response_headers = %(headers)s, payment_id = %(pid)s
WHERE user_id = %(uid)s AND key_hash = %(key)s
"""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _answer(start_response, status: int, body: str, headers: list, replayed: bool = False):
    reason = {200: "OK", 201: "Created", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}
    out = [(str(k), str(v)) for k, v in headers]
    if replayed:
        out.append(("Idempotent-Replayed", "true"))
    data = body.encode()
    out.append(("Content-Length", str(len(data))))
    start_response(f"{status} {reason.get(status, 'Unknown')}", out)
    return [data]


def _problem(start_response, status: int, title: str):
    body = json.dumps({"title": title, "status": status})
    return _answer(start_response, status, body, [("Content-Type", "application/problem+json")])


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        return _answer(
            start_response, 200, '{"status":"ok"}', [("Content-Type", "application/json")]
        )
    if path != "/api/v1/payments" or environ["REQUEST_METHOD"] != "POST":
        return _problem(start_response, 404, "Not found")
    token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip()
    key = environ.get("HTTP_IDEMPOTENCY_KEY", "").strip('"')
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    cid, method = int(body["consultation_id"]), str(body["payment_method"])
    token_hash, key_hash = _sha(token), _sha(key)
    fp = _sha(f"{cid}|{method}|")
    cache_key = f"floor:{token_hash}:{key_hash}"
    cached = _redis.get(cache_key)
    if cached is not None:
        entry = json.loads(cached)
        if entry["fp"] == fp:
            return _answer(start_response, entry["status"], entry["body"], entry["headers"], True)
    status, text, headers = _create(token_hash, key_hash, fp, cid, method)
    if status in (201, 409):
        entry = {"fp": fp, "status": status, "body": text, "headers": headers}
        _redis.set(cache_key, json.dumps(entry), ex=TTL)
    return _answer(start_response, status, text, headers)


def _create(token_hash: str, key_hash: str, fp: str, cid: int, method: str):
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=TTL)
    conn = _conn()
    with conn.transaction():
        row = conn.execute(AUTH_AND_CONSULTATION, {"cid": cid, "token": token_hash}).fetchone()
        if row is None:
            return 401, '{"title":"Authentication required"}', []
        uid, patient_id, fee, currency = row
        if patient_id != uid:
            return 404, '{"title":"Not found"}', []
        p = {"uid": uid, "key": key_hash, "fp": fp, "now": now, "expires": expires, "cid": cid}
        if conn.execute(CLAIM, p).fetchone() is None:
            stored = conn.execute(STORED, p).fetchone()
            return stored[1], stored[2], json.loads(stored[3])
        conn.execute(LOCK, p)
        active = conn.execute(ACTIVE, p).fetchone()
        if active is not None:
            status, pid = 409, active[0]
            text = json.dumps(
                {
                    "title": "This consultation already has a payment",
                    "status": 409,
                    "existing_payment_id": pid,
                    "existing_payment_status": active[1],
                },
                separators=(",", ":"),
            )
            headers = [["Content-Type", "application/problem+json"]]
        else:
            total = Decimal(fee)
            base = (total / (1 + VAT_RATE)).quantize(CENT, ROUND_HALF_UP)
            created = {
                **p,
                "total": total,
                "currency": currency,
                "method": method,
                "vat": total - base,
                "base": base,
                "rate": VAT_RATE,
                "number": f"INV-{now:%Y%m%d%H%M%S}-",
                "actor": f"user:{uid}",
                "data": json.dumps({"method": method, "amount": str(total)}),
            }
            pid, invoice_id, number = conn.execute(CREATE, created).fetchone()
            status = 201
            text = json.dumps(
                {
                    "data": {
                        "payment": {
                            "id": pid,
                            "consultation_id": cid,
                            "user_id": uid,
                            "amount": str(total),
                            "currency": currency,
                            "payment_method": method,
                            "status": "pending",
                            "version": 1,
                            "created_at": now.isoformat(),
                        },
                        "invoice": {
                            "id": invoice_id,
                            "invoice_number": number,
                            "reference": number,
                            "amount": str(total),
                            "status": "pending",
                            "issued_at": now.isoformat(),
                        },
                    },
                    "message": "Payment created.",
                },
                separators=(",", ":"),
            )
            headers = [
                ["Content-Type", "application/json"],
                ["Location", f"/api/v1/payments/{pid}"],
            ]
        conn.execute(
            FINISH,
            {**p, "status": status, "body": text, "headers": json.dumps(headers), "pid": pid},
        )
    return status, text, headers
