"""``hubwire`` commands in processes of their own, forked from one that imported the CLI already.

Each command still runs in a real process (its own pid, environment, working directory, signals,
exit code), but Python starts and imports ``hubwire.cli`` once per test worker (a
``multiprocessing`` fork server preloaded with it) instead of once per command: seconds each on a
loaded machine. What the command prints to stdout goes to a file the test reads as it grows
(stderr to another).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

__all__ = ["ForkedCommand", "forked"]

ROOT = Path(__file__).parents[1]
_FORK_SERVER = multiprocessing.get_context("forkserver")
_FORK_SERVER.set_forkserver_preload(["hubwire.cli"])


def _run(argv: list[str], environ: dict[str, str], out: str, err: str) -> None:
    """In the child: the test's environment, the checkout as working directory, stdout to ``out``
    and stderr to ``err``, then the command as the console script runs it."""
    from hubwire.cli import main

    os.environ.clear()
    os.environ.update(environ)
    os.chdir(ROOT)
    for path, target in ((out, 1), (err, 2)):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, target)
        os.close(fd)
    sys.exit(main(argv))


@dataclass
class ForkedCommand:
    proc: BaseProcess
    out: Path
    err: Path
    _read: int = field(default=0, repr=False)

    async def lines(self) -> AsyncIterator[str]:
        """Each line the command printed, as it prints them; ends when the command ended."""
        pending = ""
        while True:
            ended = not self.proc.is_alive()
            with self.out.open("rb") as f:
                f.seek(self._read)
                chunk = f.read()
            self._read += len(chunk)
            pending += chunk.decode()
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line + "\n"
            if ended:
                if pending:
                    yield pending
                return
            await asyncio.sleep(0.02)


@asynccontextmanager
async def forked(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> AsyncIterator[ForkedCommand]:
    """Run ``hubwire <argv>`` with ``env`` (default: this process's environment); on leaving,
    SIGTERM it if it still runs and wait for its end."""
    out, err = tmp_path / "hubwire.out", tmp_path / "hubwire.err"
    out.touch()
    err.touch()
    environ = dict(os.environ if env is None else env)
    proc = _FORK_SERVER.Process(target=_run, args=(argv, environ, str(out), str(err)), daemon=True)
    await asyncio.to_thread(proc.start)
    try:
        yield ForkedCommand(proc, out, err)
    finally:
        if proc.is_alive():
            proc.terminate()  # SIGTERM
        await asyncio.to_thread(proc.join, 30)
