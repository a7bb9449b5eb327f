"""``hubwire simulate stripe`` runs a seeded simulator in the foreground until SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import httpx


async def test_simulate_stripe_command_serves_until_sigterm() -> None:
    args = ["simulate", "stripe", "--port", "0", "--customers", "7"]
    code = f"from hubwire.cli import main; raise SystemExit(main({args!r}))"
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
        assert f'api_base_url="{url.group(1)}"' in text and 'api_key="sk_test_hubwire"' in text
        async with httpx.AsyncClient(base_url=url.group(1)) as c:
            r = await c.get("/v1/customers", params={"limit": 100}, headers={"Authorization": "Bearer sk_test_hubwire"})
            assert r.status_code == 200 and len(r.json()["data"]) == 7
            prices = await c.get("/v1/prices", headers={"Authorization": "Bearer sk_test_hubwire"})
            assert prices.json()["data"][0]["recurring"]["interval"] == "month"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0
