"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py 'app:create_app()'``.

Each value can be overridden from the environment (names below) or the command line.
With ``preload_app`` the app is built once in the master and forked: nothing opened there may
be shared, so each worker drops the inherited database pool and Redis connections in
``post_fork`` and opens its own on first use.
"""

from __future__ import annotations

import os

from gunicorn.http import wsgi

_cores = os.cpu_count() or 1

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Requests spend most of their time waiting on PostgreSQL, Redis and the payment provider:
# threads, not processes, carry the concurrency; processes use the cores. 2 × cores + 1, at
# most 9 by default. A checkout holds its thread for the provider's whole session create, so
# the threads bound distinct checkouts at threads ÷ the provider's latency; a waiting thread
# costs little memory and no CPU, hence 8 per worker (docs/operations.md, "Threads and a slow
# provider"). Each worker's database pool (DB_POOL_SIZE, and as many again) covers them.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * _cores + 1, 9)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# A payment's every wait is bounded (lock 5 s, statement 30 s), so 30 s means a stuck worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
keepalive = 5
# Recycle workers now and then so slow leaks never accumulate (jitter: not all at once).
max_requests = 10000
max_requests_jitter = 1000
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
accesslog = "-"
errorlog = "-"
# The load balancer's address is not the client's: see TRUSTED_PROXY_HOPS.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def _without_server_header(default_headers):
    """gunicorn writes ``Server: gunicorn`` itself, below the app, and has no setting for it:
    naming the server tells a scanner which advisories to try and tells a client nothing.
    Its status line, Date and Connection are kept as gunicorn writes them."""

    def headers(self):
        return [line for line in default_headers(self) if not line.startswith("Server:")]

    return headers


# Set here, in the master, before any worker is forked: every worker inherits it.
wsgi.Response.default_headers = _without_server_header(wsgi.Response.default_headers)


def post_fork(server, worker):
    """Give this worker its own database and Redis connections (never the master's)."""
    app = worker.app.wsgi()
    from app.extensions import db

    with app.app_context():
        # close=False: the parent's sockets are left alone for the parent; only this
        # process forgets them (SQLAlchemy's documented recipe for forked processes).
        db.engine.dispose(close=False)
    client = app.extensions.get("redis")
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.reset()


def on_starting(server):
    """Multiprocess metrics start from zero: the last run's worker files would be added in."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        import glob

        os.makedirs(directory, exist_ok=True)
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)


def child_exit(server, worker):
    """An exited worker's counts stay in the total; its live gauges go (prometheus-client)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
