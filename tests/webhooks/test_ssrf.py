"""The SSRF guard: every refused address class, schemes, resolution, and the dial-time check."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import aiohttp
import pytest

from hubwire import Integration, ValidationError, Worker
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.net.ssrf import AddressPolicy, BlockedAddress, GuardedResolver, blocked_reason, check_url
from hubwire.webhooks import list_attempts, list_deliveries
from tests.api.conftest import rest_client
from tests.conftest import make_hub
from tests.fakes import deal_noun

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "CGNAT",
    "100.127.255.254": "CGNAT",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "fc00::1": "unique-local",
    "fd12:3456::1": "unique-local",
    "fec0::1": "site-local",
    "::ffff:127.0.0.1": "IPv4-mapped form of a loopback address",
    "::ffff:169.254.169.254": "IPv4-mapped form of a link-local address",
    "::ffff:10.0.0.1": "IPv4-mapped form of a private address",
    "2002:7f00:1::": "6to4 form of a loopback address",
    "2002:a9fe:a9fe::1": "6to4 form of a link-local address",
    "64:ff9b::7f00:1": "NAT64 form of a loopback address",
    "64:ff9b::a9fe:a9fe": "NAT64 form of a link-local address",
    "64:ff9b:1::a00:1": "NAT64 form of a private address",
    "::7f00:1": "IPv4-compatible form of a loopback address",
}
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::1"]


@pytest.mark.parametrize(("addr", "reason"), sorted(REFUSED.items()))
def test_refused_address_classes(addr: str, reason: str) -> None:
    got = blocked_reason(ipaddress.ip_address(addr))
    assert got is not None and got.startswith(reason), (addr, got)


@pytest.mark.parametrize("addr", ALLOWED)
def test_public_addresses_pass(addr: str) -> None:
    assert blocked_reason(ipaddress.ip_address(addr)) is None


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/x", "unsupported_scheme"),
        ("file:///etc/passwd", "unsupported_scheme"),
        ("gopher://127.0.0.1:70/", "unsupported_scheme"),
        ("http:///nohost", "invalid_url"),
        ("http://127.0.0.1:8080/hook", "ssrf_blocked"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data", "ssrf_blocked"),
        ("https://10.0.0.5/hook", "ssrf_blocked"),
        ("http://localhost:9999/hook", "ssrf_blocked"),
        ("http://a..b/", "invalid_url"),
        ("http://%31%32%37.0.0.1/", "invalid_url"),
        ("http://127.0.0.1\\@good.example/", "invalid_url"),
        ("http://[::1/", "invalid_url"),
    ],
)
async def test_check_url_refuses_with_a_named_reason(url: str, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        await check_url(url, AddressPolicy())
    assert exc.value.status == 422 and exc.value.errors[0].code == code


async def test_a_hostname_resolving_to_loopback_names_the_address() -> None:
    with pytest.raises(ValidationError) as exc:
        await check_url("http://localhost/hook", AddressPolicy())
    assert "localhost" in exc.value.message and "loopback" in exc.value.message
    assert exc.value.fields["reason"] == "loopback"


async def test_policy_opens_for_private_networks_or_an_allowlist() -> None:
    await check_url("http://localhost:1/x", AddressPolicy(allow_private=True))
    allow = AddressPolicy(allowed=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")))
    await check_url("http://127.0.0.1:1/x", allow)
    with pytest.raises(ValidationError):
        await check_url("http://10.0.0.1/x", allow)


async def test_dial_time_guard_refuses_a_name_that_resolves_to_loopback(receiver: object) -> None:
    """DNS rebinding: the connect-time check passed (or was skipped); the dial is refused anyway."""
    from tests.webhooks.conftest import Receiver

    assert isinstance(receiver, Receiver)
    port = receiver.base.rsplit(":", 1)[1]
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(AddressPolicy()))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as exc:
            await session.post(f"http://localhost:{port}/ok", data=b"{}")
        assert isinstance(exc.value.os_error, BlockedAddress) and "loopback" in str(exc.value.os_error)
    assert receiver.requests == []
    # the same dial with the guard opened reaches the receiver
    open_ = aiohttp.TCPConnector(resolver=GuardedResolver(AddressPolicy(allow_private=True)))
    async with aiohttp.ClientSession(connector=open_) as session, session.post(f"http://localhost:{port}/ok") as r:
        assert r.status == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_an_endpoint_made_with_the_guard_open_is_not_delivered_by_a_hub_with_it_closed(
    whub: Hub, receiver: object, db_url: str, tmp_path: Path, providers: ProviderRegistry, host: str
) -> None:
    """Delivery time: the address check (an IP literal) and the dial-time resolver (a name) each refuse."""
    from tests.webhooks.conftest import Receiver

    assert isinstance(receiver, Receiver) and whub.settings.allow_private_networks
    url = receiver.url("/ok").replace("127.0.0.1", host)
    ep = await Integration.connect(provider="webhook", url=url, events=["Deal.*"])
    await deal_noun().create(name="an event for the endpoint")
    closed = make_hub(db_url, tmp_path, providers)
    async with closed:
        assert not closed.settings.allow_private_networks
        await Worker(closed, concurrency=4).drain()
        deliveries = await list_deliveries(closed, endpoint_id=ep.id)
        assert deliveries and receiver.requests == []
        for d in deliveries:
            assert d.status in ("failed", "dead") and d.last_error is not None
            assert "refusing" in d.last_error and "a loopback address" in d.last_error, d.last_error
            attempts = await list_attempts(closed, d.id)
            assert attempts and all(a.status_code is None for a in attempts)


async def test_a_webhook_url_patched_in_another_spelling_takes_the_connect_check(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, receiver: object
) -> None:
    """With only 127.0.0.2 allowed, a PATCH to 127.0.0.1 in Unicode dots or digits is refused like a connect."""
    from tests.webhooks.conftest import Receiver

    assert isinstance(receiver, Receiver)
    port = receiver.base.rsplit(":", 1)[1]
    hub = make_hub(db_url, tmp_path, providers, allowed_networks=("127.0.0.2/32",))
    async with hub, rest_client(hub) as c:
        r = await c.post(
            "/v1/integrations/connect",
            json={"provider": "webhook", "url": f"http://127.0.0.2:{port}/x", "events": ["webhook.test"]},
        )
        assert r.status_code == 201, r.text
        wid = r.json()["$id"]
        for url in (f"http://127。0。0。1:{port}/x", f"http://①②⑦.0.0.1:{port}/", f"http://127.0.0.1.:{port}/"):
            r = await c.patch(f"/v1/integrations/{wid}", json={"config": {"url": url, "events": ["*"]}})
            assert r.status_code == 422, (url, r.text)
            assert r.json()["errors"][0]["code"] == "ssrf_blocked", r.json()
            assert r.json()["detail"].startswith("refusing 127.0.0.1: a loopback address;"), r.json()
        assert (await Integration.get(wid))["config"]["url"] == f"http://127.0.0.2:{port}/x"
        # an allowed URL in another spelling is stored as the guard read it
        r = await c.patch(
            f"/v1/integrations/{wid}", json={"config": {"url": f"http://１２７.０.０.２:{port}/y", "events": ["*"]}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["config"]["url"] == f"http://127.0.0.2:{port}/y"
        # a URL with an empty label is a clear 422, at connect and at PATCH
        r = await c.post(
            "/v1/integrations/connect", json={"provider": "webhook", "url": "http://a..b/", "events": ["*"]}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_url", r.text
        r = await c.patch(f"/v1/integrations/{wid}", json={"config": {"url": "http://a..b/", "events": ["*"]}})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_url", r.text
    assert receiver.requests == []


async def test_custom_headers_do_not_follow_a_patched_url(whub: Hub, receiver: object) -> None:
    """Custom headers are credentials entered for one URL: a PATCH may not send them elsewhere, a reconnect may."""
    from tests.webhooks.conftest import Receiver

    assert isinstance(receiver, Receiver)
    headers = {"Authorization": "Bearer receiver-token"}
    ep = await Integration.connect(provider="webhook", url=f"{receiver.base}/a", events=["Deal.*"], headers=headers)
    plain = await Integration.connect(provider="webhook", url=f"{receiver.base}/a", events=["Deal.*"])
    async with rest_client(whub) as c:
        r = await c.patch(f"/v1/integrations/{ep.id}", json={"config": {**ep["config"], "url": f"{receiver.base}/b"}})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "reconnect_required", r.text
        assert "custom headers" in r.json()["detail"]
        # the endpoint is unchanged; its other settings still update
        assert (await Integration.get(ep.id))["config"]["url"] == f"{receiver.base}/a"
        r = await c.patch(f"/v1/integrations/{ep.id}", json={"config": {**ep["config"], "events": ["Deal.Created"]}})
        assert r.status_code == 200, r.text
        # an endpoint without custom headers moves by an update
        r = await c.patch(
            f"/v1/integrations/{plain.id}", json={"config": {**plain["config"], "url": f"{receiver.base}/b"}}
        )
        assert r.status_code == 200 and r.json()["config"]["url"] == f"{receiver.base}/b", r.text
    # a reconnect with the headers moves them
    moved = await Integration.connect(ep.id, url=f"{receiver.base}/b", events=["Deal.*"], headers=headers)
    assert moved["config"]["url"] == f"{receiver.base}/b"
