"""``hubwire serve``: where authentication may be disabled, and what its access log may write."""

from __future__ import annotations

import signal

import httpx
import pytest

from hubwire.errors import ConfigurationError
from hubwire.settings import Settings, check_bind
from tests.cli.test_process import Lines, Spawn, proc_env, spawn  # noqa: F401  (fixtures)

NO_AUTH = Settings(auth_required=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_auth_may_be_disabled_on_a_loopback_address(host: str) -> None:
    check_bind(NO_AUTH, host)


@pytest.mark.parametrize(
    "host",
    ["127.x.example", "127.0.0.1.nip.io", "127.example.com", "localhost.example", "0.0.0.0", "::", "10.0.0.1", "vm"],
)
def test_auth_cannot_be_disabled_anywhere_else(host: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        check_bind(NO_AUTH, host)
    assert exc.value.message.startswith(f"refusing to serve on {host} with HUBWIRE_AUTH=disabled")
    check_bind(Settings(), host)  # with authentication, anywhere


@pytest.mark.slow
def test_the_access_log_masks_query_values(spawn: Spawn) -> None:  # noqa: F811
    p = spawn("serve", "--port", "0", "--workers", "0")
    out, err = Lines(p.stdout), Lines(p.stderr)
    url = out.wait_for(r"(http://127\.0\.0\.1:\d+)").group(1)
    secret = "hw_leaked_0123456789abcdef"
    r = httpx.get(f"{url}/healthz", params={"api_key": secret, "limit": "5"}, timeout=10)
    assert r.status_code == 200, r.text
    httpx.get(f"{url}/v1/integrations?token={secret}", timeout=10)
    out.wait_for(r"GET /v1/integrations")  # uvicorn writes its access log to stdout
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    log = err.text() + out.text()
    assert secret not in log
    assert "GET /healthz?api_key=[REDACTED]&limit=[REDACTED] HTTP/1.1" in log, log
    assert "GET /v1/integrations?token=[REDACTED] HTTP/1.1" in log, log


def test_the_startup_heap_is_kept_out_of_full_collections() -> None:
    """What ``serve`` and ``worker`` call once started: the objects alive then are frozen, young
    collections are rarer."""
    import gc

    from hubwire.cli.runtime import tune_garbage_collector

    alive: list[object] = []  # a cycle made before: frozen with the rest, so a full collection no longer walks it
    alive.append(alive)
    thresholds = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_freeze_count() > 1000
        assert all(o is not alive for o in gc.get_objects(generation=2))
        assert gc.get_threshold()[0] == 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
