"""Test worker processes: started with the project's interpreter, ready when they say so.

A child says it is ready by writing a line to a pipe it inherits (``--ready-fd``), not by a file
the parent polls for: the parent blocks on the pipe, so a slow start on a loaded machine only
needs a generous bound, and a child that dies before it is ready is seen at once (end of file).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["READY_TIMEOUT", "ChildProcess", "say_ready", "start", "wait_until"]

ROOT = Path(__file__).parents[1]
# Starting Python and importing hubwire takes about a second idle; tens of seconds on a loaded machine.
READY_TIMEOUT = 120.0


@dataclass
class ChildProcess:
    proc: subprocess.Popen[bytes]
    _ready: int = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the process says it is ready; fail at once if it ends first."""

        def read_line() -> bytes:
            with os.fdopen(self._ready, "rb") as pipe:
                return pipe.readline()

        try:
            line = await asyncio.wait_for(asyncio.to_thread(read_line), timeout)
        except TimeoutError:
            raise AssertionError(f"process {self.pid} not ready after {timeout:g}s") from None
        assert line == b"ready\n", f"process {self.pid} ended before it was ready (exit code {self.proc.wait()})"


def start(script: Path, *args: str, stderr: int | None = subprocess.DEVNULL) -> ChildProcess:
    """Run ``script`` with ``args`` and ``--ready-fd N`` (see :func:`say_ready`)."""
    read_end, write_end = os.pipe()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.Popen(
            [sys.executable, str(script), *args, "--ready-fd", str(write_end)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)  # the child holds the only write end: its exit ends the parent's read
    return ChildProcess(proc, read_end)


def say_ready(fd: int) -> None:
    """In the child: tell the parent it is ready."""
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(b"ready\n")


async def wait_until(check: object, timeout: float, what: str) -> None:
    """Until ``check()`` is true, what another process does (a bounded wait, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
