"""The SSRF corpus: every spelling of a refused address, at every place a URL enters Hubwire.

Entry points: a webhook connect, a webhook PATCH (``Integration.update`` of ``config.url``), a
provider connect's ``api_base_url``, a provider dial (a stored base URL reaching the HTTP layer
without the connect check), and a redirect to it (from a provider or a webhook receiver on the
one network allowed: never followed). Delivery time: tests/webhooks/test_ssrf.py.

Each URL points at a live receiver on 127.0.0.1, so a guard that let one through would be seen
there: the receiver must count 0, and every entry point must refuse with a 422 naming the reason.
No name here needs a DNS server: ``localhost`` resolves from the hosts file.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpcore
import pytest
from aiohttp import web

from hubwire import Entity, HubwireError, Integration, Noun, ProviderError, ValidationError, Worker
from hubwire.connectors.registry import ProviderContext, ProviderRegistry
from hubwire.connectors.runtime import Connection
from hubwire.connectors.stripe.provider import StripeProvider
from hubwire.hub import Hub
from hubwire.net.http import HttpClient, RetryPolicy
from hubwire.net.ssrf import AddressPolicy
from hubwire.webhooks import list_deliveries
from tests.conftest import make_hub

# {port} is the receiver's. Hosts the guard must refuse, by what they are.
CORPUS = {
    # loopback, in every spelling a resolver or inet_aton accepts
    "dotted": "http://127.0.0.1:{port}/reached",
    "other 127/8": "http://127.8.9.10:{port}/reached",
    "decimal": "http://2130706433:{port}/reached",
    "hex": "http://0x7f000001:{port}/reached",
    "hex dotted": "http://0x7f.0.0.1:{port}/reached",
    "octal": "http://0177.0.0.1:{port}/reached",
    "short": "http://127.1:{port}/reached",
    "trailing dot": "http://127.0.0.1.:{port}/reached",
    "IPv6 loopback": "http://[::1]:{port}/reached",
    "IPv4-mapped": "http://[::ffff:127.0.0.1]:{port}/reached",
    "IPv4-mapped hex": "http://[::ffff:7f00:1]:{port}/reached",
    "IPv4-compatible": "http://[::127.0.0.1]:{port}/reached",
    "NAT64": "http://[64:ff9b::7f00:1]:{port}/reached",
    "NAT64 local-use": "http://[64:ff9b:1::7f00:1]:{port}/reached",
    "6to4": "http://[2002:7f00:1::]:{port}/reached",
    "Teredo": "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/reached",
    "unspecified": "http://0.0.0.0:{port}/reached",
    "unspecified short": "http://0:{port}/reached",
    "IPv6 unspecified": "http://[::]:{port}/reached",
    # names that resolve to loopback (the hosts file only)
    "localhost": "http://localhost:{port}/reached",
    "LOCALHOST.": "http://LOCALHOST.:{port}/reached",
    "fullwidth localhost": "http://ｌｏｃａｌｈｏｓｔ:{port}/reached",
    # Unicode dots and digits (UTS-46 maps them before any resolver sees them)
    "ideographic full stops": "http://127。0。0。1:{port}/reached",
    "fullwidth full stops": "http://127．0．0．1:{port}/reached",
    "circled digits": "http://①②⑦.0.0.1:{port}/reached",
    "fullwidth digits": "http://１２７.０.０.１:{port}/reached",
    # userinfo and fragment tricks: the host is what follows the last @, before any #
    "userinfo": "http://good.example@127.0.0.1:{port}/reached",
    "userinfo with password": "http://good.example:pw@127.0.0.1:{port}/reached",
    "fragment": "http://127.0.0.1:{port}#@good.example/reached",
    # private, shared, link-local and metadata addresses
    "10/8": "http://10.0.0.1:{port}/reached",
    "172.16/12": "http://172.16.0.1:{port}/reached",
    "192.168/16": "http://192.168.1.1:{port}/reached",
    "CGNAT": "http://100.64.0.1:{port}/reached",
    "metadata": "http://169.254.169.254:{port}/latest/meta-data",
    "metadata decimal": "http://2852039166:{port}/latest/meta-data",
    "metadata IPv4-mapped": "http://[::ffff:169.254.169.254]:{port}/latest/meta-data",
    "metadata IPv6 (AWS)": "http://[fd00:ec2::254]:{port}/latest/meta-data",
    "IPv6 link-local": "http://[fe80::1]:{port}/reached",
    "unique-local": "http://[fd12:3456::1]:{port}/reached",
}

# "a" before a vowel sound, "an" before a consonant one ("a unique-local", "an unspecified" are right).
BAD_ARTICLE = re.compile(r"\ba (?:[aeioAEIO]|un[^i])|\ban (?:uni|[^aeiouAEIOU])")

Enter = Callable[[Hub, str], Awaitable[Any]]


async def webhook_connect(hub: Hub, url: str) -> Any:
    return await Integration.connect(provider="webhook", url=url, events=["*"])


async def webhook_patch(hub: Hub, url: str) -> Any:
    # A public address literal: connect checks it without DNS, and no worker runs to deliver.
    ep = await Integration.connect(provider="webhook", url="http://93.184.216.34/hook", events=["webhook.test"])
    return await Integration.update(ep.id, config={"url": url, "events": ["webhook.test"]})


async def provider_connect(hub: Hub, url: str) -> Any:
    return await Integration.connect(provider="stripe", api_key="sk_test_corpus12345", api_base_url=url)


async def provider_dial(hub: Hub, url: str) -> Any:
    """A base URL that skipped the connect check (stored earlier, or set behind Hubwire's back)."""
    provider = StripeProvider()
    stored = Entity({"$id": "integration_corpus", "$type": "Integration", "api_base_url": url})
    conn = Connection(ProviderContext(hub, provider, stored, {"api_key": "sk_test_corpus12345"}), provider.spec)
    assert provider.spec.check is not None
    return await conn.call(provider.spec.check)


ENTRIES: dict[str, Enter] = {
    "webhook connect": webhook_connect,
    "webhook PATCH": webhook_patch,
    "provider connect": provider_connect,
    "provider dial": provider_dial,
}


@dataclass
class Receiver:
    port: int
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A server on 127.0.0.1 that records the path of every request it gets."""
    rec = Receiver(0)

    async def record(request: web.Request) -> web.Response:
        rec.seen.append(request.path)
        return web.Response(text="{}", content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.port = runner.addresses[0][1]
    yield rec
    await runner.cleanup()


@pytest.fixture(autouse=True)
def tripwire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the guard ever regress, these tests still dial loopback only: a dial elsewhere fails here.

    The guard dials through httpcore's AnyIO backend (and so does httpx without it); the cases that
    are not loopback (private, metadata...) then fail this test without a packet leaving the host.
    """
    dial = httpcore.AnyIOBackend.connect_tcp

    async def loopback_only(self: httpcore.AnyIOBackend, host: str, port: int, *args: Any, **kw: Any) -> Any:
        try:
            loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise httpcore.ConnectError(f"tripwire: this test may not dial {host}")
        return await dial(self, host, port, *args, **kw)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", loopback_only)


def wrong(err: ValidationError) -> str | None:
    """What is wrong with a refusal, or None: a 422 ``ssrf_blocked`` in one correct sentence."""
    if err.status != 422 or err.errors[0].code != "ssrf_blocked":
        return f"{err.status} {err.errors[0].code}: {err.message}"
    # What was refused, what it is (with its article), how to open the guard.
    if not (err.message.startswith("refusing ") and re.search(r": an? [\w-]", err.message)):
        return f"not one sentence: {err.message}"
    if "HUBWIRE_ALLOW_PRIVATE_NETWORKS=1" not in err.message or BAD_ARTICLE.search(err.message):
        return f"not one correct sentence: {err.message}"
    return None


@pytest.mark.parametrize("entry", list(ENTRIES))
async def test_every_entry_point_refuses_every_spelling(hub: Hub, receiver: Receiver, entry: str) -> None:
    """The table: every case of CORPUS at one entry point; every case that got through is named."""
    assert not hub.settings.allow_private_networks and not hub.settings.allowed_networks
    through: dict[str, str] = {}
    for case, template in CORPUS.items():
        url = template.format(port=receiver.port)
        try:
            await ENTRIES[entry](hub, url)
        except ValidationError as exc:
            problem = wrong(exc)
            if problem is not None:
                through[case] = problem
        except HubwireError as exc:  # refused, but not by the guard: it was dialled
            through[case] = f"{type(exc).__name__}: {exc.message}"
        else:
            through[case] = f"accepted {url}"
        if receiver.seen:
            through[case] = f"reached the receiver: {receiver.seen}"
            receiver.seen.clear()
    assert through == {}


@pytest.fixture
async def redirector() -> AsyncIterator[list[str]]:
    """A server on 127.0.0.2 answering 302 to ``?to=`` (the only network its hubs may dial)."""
    seen: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        seen.append(request.path)
        raise web.HTTPFound(location=request.query["to"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.2", 0).start()
    seen.append(f"http://127.0.0.2:{runner.addresses[0][1]}")
    yield seen
    await runner.cleanup()


ONLY_127_0_0_2 = AddressPolicy(allowed=(ipaddress.ip_network("127.0.0.2/32"),))


@pytest.mark.parametrize("case", list(CORPUS))
async def test_a_providers_redirect_to_any_spelling_is_not_followed(
    receiver: Receiver, redirector: list[str], case: str
) -> None:
    """The 302 comes back as it is (or, for a Location httpx cannot read, as an error): never followed."""
    target = CORPUS[case].format(port=receiver.port)
    client = HttpClient(policy=ONLY_127_0_0_2, retry=RetryPolicy(attempts=1))
    try:
        resp = await client.request("GET", f"{redirector[0]}/hop?{urlencode({'to': target})}")
    except ProviderError as exc:
        assert "location" in exc.message.lower(), exc.message
    else:
        assert resp.status_code == 302 and resp.headers["location"]
    finally:
        await client.close()
    assert receiver.seen == [] and redirector[1:] == ["/hop"]


async def test_a_webhook_receivers_redirect_is_not_followed(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, receiver: Receiver, redirector: list[str]
) -> None:
    only = make_hub(db_url, tmp_path, providers, allowed_networks=("127.0.0.2/32",))
    async with only:
        for case in ("dotted", "localhost", "decimal", "metadata"):
            hop = f"{redirector[0]}/hop?{urlencode({'to': CORPUS[case].format(port=receiver.port)})}"
            await Integration.connect(provider="webhook", url=hop, events=["*"])
        await Noun("CorpusDeal", {"name": "string"}).create(name="an event for every endpoint")
        await Worker(only, concurrency=4).drain()
        deliveries = await list_deliveries(only)
        assert deliveries and {d.last_status_code for d in deliveries} == {302}
        assert {d.status for d in deliveries} <= {"failed", "dead"}
    assert receiver.seen == [] and len(redirector) > 4
