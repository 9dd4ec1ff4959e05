"""The app in a real multi-process server (gunicorn) on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]


class LiveServer:
    """``gunicorn 'app:create_app()'`` with the given environment; stop() ends it."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str | None,
        workers: int = 3,
        threads: int = 4,
        env: dict[str, str] | None = None,
        database_pooler: str = "none",
        config_file: str | None = None,
    ) -> None:
        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self.env = {
            **os.environ,
            "APP_ENV": "testing",
            "DATABASE_URL": database_url,
            "RATELIMIT_ENABLED": "0",
            "DB_POOL_SIZE": "20",
            "DATABASE_POOLER": database_pooler,
            **({"REDIS_URL": redis_url} if redis_url else {}),
            **(env or {}),
        }
        if not redis_url:
            self.env.pop("REDIS_URL", None)
        self.config_file = config_file
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "test-artifacts" / f"gunicorn-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [
                str(gunicorn),
                *(["--config", self.config_file] if self.config_file else []),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--worker-class",
                "gthread",
                "--graceful-timeout",
                "2",
                "--timeout",
                "30",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    # One worker answering is not all of them: on a busy machine the others
                    # may still be forking, and tests count or kill workers.
                    if r.status == 200 and len(self.worker_pids()) >= self.workers:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
