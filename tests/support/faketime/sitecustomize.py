"""Loaded by every Python process of a ``make test-at`` run (through PYTHONPATH), nowhere else.

``make test-at`` runs the suite under libfaketime with the monotonic clock left real
(FAKETIME_DONT_FAKE_MONOTONIC=1): with it faked, lock and queue timeouts computed from a
faked clock are waited for on the real one and never end. libfaketime 0.9.10 then answers
``clock_nanosleep``, which ``time.sleep`` uses, with EINVAL; ``select`` waits correctly, so a
sleep becomes a ``select`` with no descriptors. Only the wall clock (``time.time``,
``datetime.now``) is moved, which is all the app reads (``app.models.utcnow``).

Chromium does not load a page under libfaketime: Playwright's driver (and so the browser
it starts) runs on the machine's clock. The pages it shows are rendered by the faked app.
"""

import asyncio
import os
import select
import time

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep

    _create_subprocess_exec = asyncio.create_subprocess_exec

    async def _driver_on_the_real_clock(program, *args, env=None, **kwargs):
        if "playwright" in str(program):
            env = {k: v for k, v in (env or os.environ).items() if k != "LD_PRELOAD"}
        return await _create_subprocess_exec(program, *args, env=env, **kwargs)

    asyncio.create_subprocess_exec = _driver_on_the_real_clock
