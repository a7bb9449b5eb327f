"""``hubwire simulate stripe|github`` runs a seeded simulator in the foreground until SIGTERM."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from hubwire.simulators import specs
from hubwire.simulators.github import DEFAULT_TOKEN

STRIPE_AUTH = {"Authorization": "Bearer sk_test_hubwire"}
GITHUB_AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


async def stripe_answers(c: httpx.AsyncClient) -> None:
    r = await c.get("/v1/customers", params={"limit": 100}, headers=STRIPE_AUTH)
    assert r.status_code == 200 and len(r.json()["data"]) == 7
    prices = await c.get("/v1/prices", headers=STRIPE_AUTH)
    assert prices.json()["data"][0]["recurring"]["interval"] == "month"


async def github_answers(c: httpx.AsyncClient) -> None:
    repos = (await c.get("/user/repos", headers=GITHUB_AUTH)).json()
    issues = (await c.get(f"/repos/{repos[0]['full_name']}/issues", headers=GITHUB_AUTH)).json()
    assert len(repos) == 1 and len(issues) == 3
    pulls = await c.get(f"/repos/{repos[0]['full_name']}/pulls", params={"state": "all"}, headers=GITHUB_AUTH)
    assert pulls.status_code == 200 and [p["title"] for p in pulls.json()] == ["Demo pull request"]
    assert pulls.json()[0]["merged_at"] is not None


@pytest.mark.parametrize(
    ("args", "credential", "answers"),
    [
        (["stripe", "--customers", "7"], 'api_key="sk_test_hubwire"', stripe_answers),
        (["github", "--issues", "3"], f'token="{DEFAULT_TOKEN}"', github_answers),
    ],
    ids=["stripe", "github"],
)
async def test_simulate_command_serves_until_sigterm(
    args: list[str], credential: str, answers: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> None:
    argv = ["simulate", *args, "--port", "0"]
    code = f"from hubwire.cli import main; raise SystemExit(main({argv!r}))"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("Ctrl-C" in line for line in lines):
                raw = await proc.stdout.readline()
                assert raw, "the command ended early: " + "".join(lines)
                lines.append(raw.decode())
        text = "".join(lines)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert url, text
        assert f'api_base_url="{url.group(1)}"' in text and credential in text
        # Run from this checkout, the simulator finds the specs folder beside it (when it is there).
        checking = specs.locate_specs_dir() is not None
        assert ("spec check: on" in text) is checking
        async with httpx.AsyncClient(base_url=url.group(1)) as c:
            await answers(c)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0


def test_the_specs_folder_is_found_beside_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HUBWIRE_SPECS_DIR", raising=False)
    checkout = Path(__file__).resolve().parents[2]
    beside = checkout.parent / "shared" / "specs"
    assert specs.locate_specs_dir() == (beside if beside.is_dir() else None)
    # A copy of the package outside a checkout (as installed into site-packages) finds nothing
    # without the variable, even with a shared/specs folder above it.
    site = tmp_path / "site-packages"
    shutil.copytree(checkout / "src" / "hubwire", site / "hubwire")
    (tmp_path / "shared" / "specs").mkdir(parents=True)
    probe = "import hubwire.simulators.specs as s; print(s.__file__); print(s.locate_specs_dir())"

    def located(**env: str) -> list[str]:
        run = subprocess.run(
            [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return run.stdout.split()

    assert located() == [str(site / "hubwire" / "simulators" / "specs.py"), "None"]
    assert located(HUBWIRE_SPECS_DIR=str(tmp_path / "shared" / "specs"))[1] == str(tmp_path / "shared" / "specs")
