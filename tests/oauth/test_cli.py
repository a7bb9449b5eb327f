"""``hubwire Integration.connect --provider X --oauth`` in a real process: it prints the URL,
listens on a loopback callback, and finishes the connect; ``hubwire oauth-apps``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hubwire import Integration
from hubwire.hub import Hub
from tests.conftest import TEST_SECRET
from tests.oauth.authserver import CLIENT_ID, CLIENT_SECRET, SLUG, AuthlibServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

HUBWIRE = Path(sys.executable).parent / "hubwire"
ROOT = Path(__file__).parents[2]


def env_for(db_url: str, tmp_path: Path, server: AuthlibServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    env.update(
        HUBWIRE_DATABASE_URL=db_url,
        HUBWIRE_DATA_DIR=str(tmp_path),
        HUBWIRE_SECRET_KEY=TEST_SECRET,
        HUBWIRE_ALLOW_PRIVATE_NETWORKS="1",
        AUTHLIB_TEST_URL=server.url,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DISPLAY", None)
    return env


def test_oauth_apps_commands(db_url: str, tmp_path: Path, authserver: AuthlibServer) -> None:
    env = env_for(db_url, tmp_path, authserver)
    base = ["--import", "tests.oauth.cli_provider", "oauth-apps"]
    # The five commands in one process, one after another, each as the console script runs it.
    made, listed, granted, bad, refused = run_cli(
        env,
        [*base, "set", SLUG, "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--scopes", "profile"],
        [*base, "list", "--json"],
        [*base, "set", SLUG, "--grant", "client_credentials", "--json"],
        [*base, "set", SLUG, "--grant", "password"],
        [*base, "set", "stripe", "--client-id", "x", "--client-secret", "y"],
    )
    assert made.returncode == 0, made.stderr
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["client_id"] == CLIENT_ID
    assert CLIENT_SECRET not in made.stdout + made.stderr + listed.stdout + listed.stderr
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["extra"]["grant"] == "client_credentials"
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "grant must be one of" in bad.stderr
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: stripe does not connect with OAuth 2.0 (validation_error)")


def run_cli(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """``hubwire`` commands run one after another in one process (tests/cli_batch.py)."""
    results = Path(env["HUBWIRE_DATA_DIR"]) / "cli-batch.json"
    batch = subprocess.run(
        [sys.executable, "-m", "tests.cli_batch", str(results), json.dumps(commands)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    return [
        subprocess.CompletedProcess(argv, r["code"], r["out"], r["err"])
        for argv, r in zip(commands, json.loads(results.read_text()), strict=True)
    ]


def browser_flow(env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI's OAuth connect and play the user's browser: open the URL it prints (the provider
    approves at once) and follow the provider's redirect to the CLI's loopback callback."""
    cmd = [str(HUBWIRE), "--import", "tests.oauth.cli_provider", "Integration.connect"]
    proc = subprocess.Popen(
        [*cmd, "--provider", SLUG, "--oauth", "--no-browser", "--json"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        url = ""
        while not url.startswith("http"):
            line = proc.stderr.readline()
            assert line, f"the CLI ended before printing a URL ({proc.wait()})"
            url = line.strip()
        to_cli = httpx.get(url, follow_redirects=False).headers["location"]
        assert to_cli.startswith("http://127.0.0.1:") and "/callback?" in to_cli
        page = httpx.get(to_cli)
        assert page.status_code == 200 and "close this window" in page.text
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return proc.returncode, out, err


async def test_connect_with_oauth_in_a_browser_flow(
    oauth_hub: Hub, db_url: str, tmp_path: Path, authserver: AuthlibServer
) -> None:
    code, out, err = await asyncio.to_thread(browser_flow, env_for(db_url, tmp_path, authserver))
    assert code == 0, err
    entity = json.loads(out)
    assert entity["provider"] == SLUG and entity["status"] == "Connected"
    assert (await Integration.get(entity["$id"]))["config"]["account"]["name"] == "Ada"
