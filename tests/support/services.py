"""Throwaway PostgreSQL and Redis servers on free loopback ports (tests and benchmarks).

When running as root, PostgreSQL is started as the unprivileged ``postgres``
user, since it refuses to run as root. Nothing here skips: a missing server
binary raises, so CI fails loudly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/bin"]


# The servers keep the machine's clock when the suite runs under libfaketime (docs/testing.md:
# the date-independence runs). The app reads only its own clock (app.models.utcnow), never the
# database's, so faking the Python processes is enough; Redis and PgBouncer do not start under it.
SERVER_ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    for folder in PG_BIN_CANDIDATES:
        path = Path(folder) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"PostgreSQL's {name} was not found. Install it: apt-get install -y postgresql"
    )


def _end(proc: subprocess.Popen | None) -> None:
    """SIGTERM a server this module started and wait for it (10 s at most)."""
    if proc and proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout}s")


class PostgresServer:
    """initdb + pg_ctl in a temporary directory."""

    def __init__(self, *, max_connections: int = 300, options: str = "") -> None:
        self.port = free_port()
        self.max_connections = max_connections
        # More "-c name=value" settings, after (and so over) the throwaway defaults below.
        self.options = options
        self.dir = Path(tempfile.mkdtemp(prefix="checkout-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._as_user, *args], check=check, capture_output=True, text=True, env=SERVER_ENV
        )

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._run(
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            f"-c max_connections={self.max_connections} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB "
            f"{self.options}"
        )
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        _wait_port(self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser with psql in ``database``; its first value,
        as text."""
        return self._run(
            _pg_bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database,
            "-XAtq",
            "-c",
            statement,
        ).stdout.strip()

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class ReplicatedPostgres:
    """A primary and a hot standby cloned from it with ``pg_basebackup``, streaming on loopback.

    ``synchronous=True``: the primary names the standby in ``synchronous_standby_names`` and
    commits with ``synchronous_commit=on``, so a commit returns only once the standby has
    flushed its WAL. ``False``: the same pair, replicating asynchronously. ``kill_primary()``
    (``pg_ctl stop -m immediate``) then ``promote()`` (``pg_ctl promote``) fail over, as an
    operator or Patroni would. fsync stays off: the servers'
    processes die, never the machine, so what reached the kernel survives.
    """

    STANDBY_NAME = "standby1"

    def __init__(self, *, synchronous: bool = True, max_connections: int = 100) -> None:
        self.synchronous = synchronous
        committed = "-c synchronous_commit=on -c wal_sender_timeout=5s"
        self.primary = PostgresServer(max_connections=max_connections, options=committed)
        self.standby = PostgresServer(max_connections=max_connections, options=committed)

    def hosts_url(self, database: str, *, hosts: str | None = None) -> str:
        """libpq's several-host URL for ``database`` (primary first), read-write sessions only."""
        listed = hosts or f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return (
            f"postgresql://{self.primary.user}@{listed}/{database}"
            "?target_session_attrs=read-write&connect_timeout=2"
        )

    def start(self) -> ReplicatedPostgres:
        self.primary.start()
        names = f"'{self.STANDBY_NAME}'" if self.synchronous else "''"
        self.primary.sql(f"ALTER SYSTEM SET synchronous_standby_names = {names}")
        self.primary.sql("SELECT pg_reload_conf()")
        self.standby._run(
            _pg_bin("pg_basebackup"),
            "-D",
            str(self.standby.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            self.primary.user,
            "-X",
            "stream",
            "--write-recovery-conf",
            "--no-sync",
            "-d",
            f"application_name={self.STANDBY_NAME}",
        )
        # The clone inherits the primary's settings: once promoted it must not wait for a
        # standby of its own (it has none), or every commit would hang.
        with (self.standby.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("synchronous_standby_names = ''\n")
        self.standby.start()
        self.wait_until_streaming()
        return self

    def wait_until_streaming(self, timeout: float = 30.0) -> None:
        wanted = "sync" if self.synchronous else "async"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.primary.sql(
                "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'"
            )
            if state == wanted:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the standby was not streaming ({wanted}) within {timeout}s")

    def stall_replication(self) -> None:
        """SIGSTOP the primary's WAL sender: from now on nothing reaches the standby (a slow
        network or standby made deterministic). Synchronous commits wait; asynchronous ones
        are acknowledged on the primary alone."""
        self._stalled_sender = int(self.primary.sql("SELECT pid FROM pg_stat_replication"))
        os.kill(self._stalled_sender, signal.SIGSTOP)

    def kill_primary(self) -> None:
        """Every process of the primary ends at once, as on a power cut (no checkpoint)."""
        if getattr(self, "_stalled_sender", None):
            # A stopped process never handles the shutdown's SIGQUIT; SIGKILL ends it unsent.
            os.kill(self._stalled_sender, signal.SIGKILL)
            self._stalled_sender = None
        self.primary.stop("immediate")

    def promote(self) -> None:
        """Promote the standby, waiting until it accepts writes."""
        self.standby._run(_pg_bin("pg_ctl"), "-D", str(self.standby.data), "-w", "promote")

    def destroy(self) -> None:
        self.standby.destroy()
        self.primary.destroy()


class RedisServer:
    """A redis-server subprocess with no persistence, which tests may stop, pause or flush."""

    def __init__(self, *extra_args: str) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server was not found. Install it: apt-get install -y redis-server"
            )
        # Replication writes an RDB file even with --save "": keep it out of the working tree.
        self.dir = tempfile.mkdtemp(prefix="checkout-redis-")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--dir",
                self.dir,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--maxclients",
                "2000",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=SERVER_ENV,
        )
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.resume()
        _end(self.proc)
        self.proc = None
        shutil.rmtree(getattr(self, "dir", ""), ignore_errors=True)

    def pause(self) -> None:
        """SIGSTOP: the server accepts connections but answers nothing (a 'slow' Redis)."""
        if self.proc:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)


class PgBouncerServer:
    """Debian's PgBouncer in transaction pooling mode in front of a PostgreSQL server.

    Runs as the ``postgres`` user when root (PgBouncer refuses root), trusts loopback
    clients like the throwaway PostgreSQL does, and forwards every database name.
    """

    BINARY_CANDIDATES = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]

    def __init__(self, *, host: str, port: int, user: str = "postgres", pool_size: int = 20):
        self.port = free_port()
        self.backend = (host, port)
        self.user = user
        self.pool_size = pool_size
        self.dir = Path(tempfile.mkdtemp(prefix="checkout-pgbouncer-"))
        self.proc: subprocess.Popen | None = None
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _binary(self) -> str:
        for path in self.BINARY_CANDIDATES:
            if Path(path).exists():
                return path
        found = shutil.which("pgbouncer")
        if found:
            return found
        raise RuntimeError("pgbouncer was not found. Install it: apt-get install -y pgbouncer")

    def start(self) -> PgBouncerServer:
        host, port = self.backend
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.dir}\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 2000\n"
            "server_reset_query =\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        if self._run_as:
            for path in [self.dir, *self.dir.iterdir()]:
                shutil.chown(path, self._run_as, self._run_as)
        # Started directly as that user (not through runuser), so stop() signals PgBouncer.
        self.proc = subprocess.Popen(
            [self._binary(), str(ini)],
            user=self._run_as,
            group=self._run_as,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=SERVER_ENV,
        )
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        _end(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisSentinelGroup:
    """A master, one replica and one sentinel (``redis-server --sentinel``) watching them.

    Stopping ``master`` makes the sentinel promote the replica after
    ``down-after-milliseconds`` (1 s); ``failover()`` (``SENTINEL FAILOVER``) promotes it
    while the old master still runs.
    """

    SERVICE = "checkout"

    def __init__(self) -> None:
        self.master = RedisServer()
        self.replica = RedisServer("--replicaof", "127.0.0.1", str(self.master.port))
        self.sentinel_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="checkout-sentinel-"))
        self.sentinel: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.SERVICE}/0"

    def start(self) -> RedisSentinelGroup:
        self.master.start()
        self.replica.start()
        config = self.dir / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\n"
            "bind 127.0.0.1\n"
            "protected-mode no\n"
            f"dir {self.dir}\n"
            f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
            f"sentinel failover-timeout {self.SERVICE} 10000\n"
        )
        binary = shutil.which("redis-sentinel") or shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-sentinel was not found: apt-get install -y redis-sentinel")
        self.sentinel = subprocess.Popen(
            [binary, str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=SERVER_ENV,
        )
        _wait_port(self.sentinel_port)
        self._until(lambda: self._replica_known(), "the sentinel to see the replica in sync")
        return self

    def _sentinel(self):
        import redis

        return redis.Redis(port=self.sentinel_port, socket_timeout=2, decode_responses=True)

    def _replica_known(self) -> bool:
        import redis

        replica = redis.Redis(port=self.replica.port, socket_timeout=2, decode_responses=True)
        linked = replica.info("replication").get("master_link_status") == "up"
        found = self._sentinel().sentinel_slaves(self.SERVICE)
        return linked and any(
            r["port"] == self.replica.port and not r.get("is_sdown") for r in found
        )

    def master_port(self) -> int:
        return int(self._sentinel().sentinel_get_master_addr_by_name(self.SERVICE)[1])

    def failover(self) -> None:
        self._sentinel().execute_command("SENTINEL FAILOVER", self.SERVICE)

    def wait_for_new_master(self, timeout: float = 20.0) -> int:
        """The promoted replica's port, once the sentinel reports it and it accepts writes."""
        import redis

        def promoted() -> bool:
            if self.master_port() != self.replica.port:
                return False
            info = redis.Redis(port=self.replica.port, socket_timeout=2).info("replication")
            return info["role"] == "master"

        self._until(promoted, "the replica to be promoted", timeout)
        return self.replica.port

    @staticmethod
    def _until(check, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise RuntimeError(f"timed out after {timeout}s waiting for {what}")

    def stop(self) -> None:
        _end(self.sentinel)
        self.sentinel = None
        self.replica.stop()
        self.master.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
