"""The installed ``hubwire`` script in real processes: defaults, exit codes, serve and worker signals.

Few and bounded: every wait has a deadline, every process is killed at teardown.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hubwire import Hub, Settings
from hubwire.jobs import queue

pytestmark = pytest.mark.slow

HUBWIRE = Path(sys.executable).parent / "hubwire"
Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def proc_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(HUBWIRE_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    return env


def hubwire(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HUBWIRE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def spawn(proc_env: dict[str, str]) -> Iterator[Spawn]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [str(HUBWIRE), *args],
            env=proc_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


class Lines:
    """Collects a stream's lines in a thread, so a test can wait for one with a deadline."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in {self.lines!r}")

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


def test_migrate_apikey_and_find_with_the_defaults(proc_env: dict[str, str], tmp_path: Path) -> None:
    r = hubwire(proc_env, "migrate")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "hubwire.db").exists() and str(tmp_path / "hubwire.db") in r.stdout

    r = hubwire(proc_env, "apikey", "create")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"hw_\w{8}_\w{32}\n", r.stdout) and "will not be shown again" in r.stderr

    r = hubwire(proc_env, "Integration.find", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"data": [], "has_more": False, "next_cursor": None}


def test_a_validation_error_is_one_line_and_exit_2(proc_env: dict[str, str]) -> None:
    r = hubwire(proc_env, "Metric.create", "--value", "lots")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: invalid Metric") and lines[0].endswith("(validation_error)")
    assert sorted(lines[1:]) == ["  name: name is required", "  value: value must be a number"]
    assert "Traceback" not in r.stderr


def test_serve_refuses_public_bind_without_auth(proc_env: dict[str, str]) -> None:
    r = hubwire({**proc_env, "HUBWIRE_AUTH": "disabled"}, "serve", "--host", "0.0.0.0")
    assert r.returncode == 2 and "refusing to serve on 0.0.0.0" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_serve_answers_healthz_and_stops_on_sigterm(spawn: Spawn) -> None:
    pytest.importorskip("hubwire.api.app")
    p = spawn("serve", "--port", "0", "--workers", "1")
    out, err = Lines(p.stdout), Lines(p.stderr)
    url = out.wait_for(r"(http://127\.0\.0\.1:\d+)").group(1)
    out.wait_for(r"hubwire apikey create")
    r = httpx.get(f"{url}/healthz", timeout=10)
    assert r.status_code == 200, r.text
    p.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it captured (exit by SIGTERM).
    assert p.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in err.text()
    assert "Traceback" not in err.text()


def test_worker_finishes_in_flight_jobs_on_sigterm(
    spawn: Spawn, proc_env: dict[str, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert hubwire(proc_env, "migrate").returncode == 0
    (tmp_path / "cli_worker_jobs.py").write_text(
        "import asyncio, pathlib\n"
        "from hubwire import job_kind\n"
        "@job_kind('cliproc.slow')\n"
        "async def slow(job, hub):\n"
        "    out = pathlib.Path(job.payload['dir'])\n"
        "    (out / 'started').write_text('1')\n"
        "    await asyncio.sleep(1.0)\n"
        "    (out / 'finished').write_text('1')\n"
    )
    p = spawn("worker", "--import", "cli_worker_jobs", "--concurrency", "2", cwd=tmp_path)
    err = Lines(p.stderr)
    err.wait_for(r"concurrency 2")
    marks = tmp_path_factory.mktemp("marks")

    async def enqueue() -> None:
        settings = Settings(data_dir=proc_env["HUBWIRE_DATA_DIR"])
        async with Hub(settings) as hub, hub.transaction() as tx:
            await queue.enqueue(tx, "cliproc.slow", {"dir": str(marks)}, max_attempts=1)

    asyncio.run(enqueue())
    deadline = time.monotonic() + 20
    while not (marks / "started").exists():
        assert time.monotonic() < deadline and p.poll() is None, err.lines
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 0
    assert (marks / "finished").exists()  # the job in flight ran to its end
    assert "worker stopped after 1 jobs" in err.text()
