"""The benchmark's own servers: PostgreSQL, Redis and gunicorn, all on loopback."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from flask_migrate import upgrade

from app import create_app
from app.config import DEMO_CLINIC, ROOT
from app.extensions import db
from tests.support.services import PostgresServer, RedisServer, free_port

# Fixed for every scenario, so that ratios compare like with like.
WORKERS = 4
THREADS = 2


def plain_url(sqlalchemy_url: str) -> str:
    """psycopg wants ``postgresql://``; the app wants ``postgresql+psycopg://``."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def free_disk_bytes(path: Path | None = None) -> int:
    """Free bytes on the disk of ``path``, by default of the temporary directory where
    tests/support/services.py puts PostgreSQL's data directory."""
    return shutil.disk_usage(path or tempfile.gettempdir()).free


def fresh_dir(path: Path) -> Path:
    """An empty folder for this run's gunicorn logs (the previous run's are replaced)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class Server:
    """``gunicorn 'app:create_app()'`` on a free loopback port.

    Like tests/support/live.py's LiveServer, plus ``--preload``: the app is imported
    once and forked, so starting a dozen workers does not take a minute on two busy
    cores. No access log: each line would cost every scenario the same, for nothing.
    """

    def __init__(
        self, env: dict[str, str], log_dir: Path, app: str | None = None, threads: int = THREADS
    ) -> None:
        self.port = free_port()
        self.env = env
        self.threads = threads
        # BENCH_APP lets an experiment serve a variant app (bench/README.md).
        self.app = app or os.environ.get("BENCH_APP", "app:create_app()")
        label = "floor" if app else env["PAYMENT_GUARD"]
        # Every server reads the product's gunicorn.conf.py (gunicorn's default, from the
        # working directory); the floor reads it through its own file (see there).
        self.config = ["--config", "bench/floor_gunicorn.conf.py"] if app else []
        self.log_path = log_dir / f"gunicorn-{label}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [
                str(gunicorn),
                *self.config,
                "--preload",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--threads",
                str(self.threads),
                "--worker-class",
                "gthread",
                "--backlog",
                "2048",
                "--graceful-timeout",
                "5",
                "--timeout",
                "60",
                self.app,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s; see {self.log_path}")

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            # SIGQUIT: gunicorn's quick shutdown; nothing is in flight by then.
            self.proc.send_signal(signal.SIGQUIT)

    def wait_stopped(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


@dataclass
class Stack:
    """One PostgreSQL and one Redis for the whole run, and the gunicorn servers started on them."""

    pg: PostgresServer
    redis: RedisServer
    servers: list[Server] = field(default_factory=list)
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    log_dir: Path = field(default_factory=lambda: fresh_dir(ROOT / "test-artifacts" / "bench"))
    redis_dbs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls) -> Stack:
        stack = cls(PostgresServer(max_connections=500).start(), RedisServer().start())
        with stack.admin() as conn:
            # The benchmark compresses minutes of traffic into seconds; autovacuum must
            # keep up the same way, or a table that started empty keeps plans made for
            # an empty table (a sequential scan of payments on every checkout).
            conn.execute("ALTER SYSTEM SET autovacuum_naptime = '1s'")
            conn.execute("SELECT pg_reload_conf()")
        return stack

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(plain_url(self.pg.url), autocommit=True)

    def connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(plain_url(self.pg.url_for(database)), autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')

    def migrate(self, database: str) -> None:
        """``flask db upgrade`` through the app, as the test suite's template database does."""
        app = create_app(
            {
                "APP_ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": self.pg.url_for(database),
                "REDIS_URL": None,
            }
        )
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            db.engine.dispose()

    def redis_url_for(self, database: str) -> str:
        """One Redis database per PostgreSQL database: user ids repeat across databases,
        and a shared cache would answer one database's checkout with another's replay."""
        number = self.redis_dbs.setdefault(database, len(self.redis_dbs))
        if number > 15:
            raise RuntimeError("Redis has 16 databases; the benchmark uses one per database")
        return self.redis.url.rsplit("/", 1)[0] + f"/{number}"

    def serve(
        self,
        database: str,
        guard: str,
        app: str | None = None,
        extra_env: dict[str, str] | None = None,
        threads: int = THREADS,
    ) -> Server:
        """A server (not started) on ``database``: ``PAYMENT_GUARD=guard``, production config.

        ``app`` serves another WSGI app with the same shape (``bench.floor:app``); ``extra_env`` adds
        settings (a payment provider, say); ``threads`` per worker replaces ``THREADS``."""
        env = {
            **os.environ,
            "APP_ENV": "production",
            "DATABASE_URL": self.pg.url_for(database),
            "REDIS_URL": self.redis_url_for(database),
            "SECRET_KEY": self.secret,
            "GATEWAY_WEBHOOK_SECRET": self.secret,
            **{name: value for name, value in DEMO_CLINIC.items() if name not in os.environ},
            "PAYMENT_GUARD": guard,
            # The limiter would cap one token at 60 payments a minute; it is not a guard.
            "RATELIMIT_ENABLED": "0",
        }
        if guard == "unguarded":
            env["ALLOW_UNGUARDED_BENCHMARK"] = "1"
        env.update(extra_env or {})
        server = Server(env, self.log_dir, app, threads)
        self.servers.append(server)
        return server

    def start_servers(self, servers: list[Server]) -> None:
        """Launch now; call ``wait_ready`` later (the app connects to its database lazily,
        so servers may start while their database is still being seeded)."""
        for server in servers:
            server.launch()

    def wait_ready(self, servers: list[Server]) -> None:
        for server in servers:
            server.wait_ready()

    def stop_servers(self) -> None:
        """All at once: each gunicorn waits for its graceful timeout in parallel."""
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            server.wait_stopped()
        self.servers.clear()

    def free_disk_bytes(self) -> int:
        """Free bytes on the disk that holds PostgreSQL's data directory."""
        return free_disk_bytes(self.pg.data)

    def postmaster_pid(self) -> int:
        return int((self.pg.data / "postmaster.pid").read_text().split()[0])

    def cpu_roots(self, server: Server) -> list[int]:
        """The processes that serve a request: gunicorn, PostgreSQL and Redis."""
        return [server.proc.pid, self.postmaster_pid(), self.redis.proc.pid]

    def close(self) -> None:
        self.stop_servers()
        self.redis.stop()
        self.pg.destroy()
