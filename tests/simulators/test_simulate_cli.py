"""``hubwire simulate <provider>`` runs a seeded simulator in the foreground until SIGTERM.

Each command runs in a real process of its own (forked from one that imported the CLI already:
tests/preloaded.py); the test reads the URL and the credential it prints and makes
real requests with them on loopback, then ends it with SIGTERM."""

from __future__ import annotations

import ast
import asyncio
import importlib
import pkgutil
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

import httpx
import pytest

import hubwire.simulators
from hubwire.analytics import DESTINATIONS, AnalyticsEvent
from hubwire.cli.simulate import KEEP_REQUESTS, run_posthog, simulate_app
from hubwire.simulators import specs
from hubwire.simulators.github import DEFAULT_TOKEN
from hubwire.simulators.hubspot import DEFAULT_TOKEN as HUBSPOT_TOKEN
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN
from hubwire.simulators.salesforce import DEFAULT_SESSION
from tests.preloaded import forked

STRIPE_AUTH = {"Authorization": "Bearer sk_test_hubwire"}
GITHUB_AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hello from Hubwire"}]}
TEAMS_MESSAGE = {
    "type": "message",
    "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": CARD}],
}


def printed(text: str, label: str) -> str:
    """The value the command printed after ``label: ``."""
    found = re.search(rf"{label}: (\S+)", text)
    assert found, f"no {label!r} in:\n{text}"
    return found.group(1)


async def stripe_answers(c: httpx.AsyncClient, text: str) -> None:
    assert printed(text, "api key") == "sk_test_hubwire"
    r = await c.get("/v1/customers", params={"limit": 100}, headers=STRIPE_AUTH)
    assert r.status_code == 200 and len(r.json()["data"]) == 7
    prices = await c.get("/v1/prices", headers=STRIPE_AUTH)
    assert prices.json()["data"][0]["recurring"]["interval"] == "month"


async def github_answers(c: httpx.AsyncClient, text: str) -> None:
    assert f"token: {DEFAULT_TOKEN}" in text
    repos = (await c.get("/user/repos", headers=GITHUB_AUTH)).json()
    issues = (await c.get(f"/repos/{repos[0]['full_name']}/issues", headers=GITHUB_AUTH)).json()
    assert len(repos) == 1 and len(issues) == 3
    pulls = await c.get(f"/repos/{repos[0]['full_name']}/pulls", params={"state": "all"}, headers=GITHUB_AUTH)
    assert pulls.status_code == 200 and [p["title"] for p in pulls.json()] == ["Demo pull request"]
    assert pulls.json()[0]["merged_at"] is not None


async def slack_answers(c: httpx.AsyncClient, text: str) -> None:
    bearer = {"Authorization": f"Bearer {printed(text, 'bot token')}"}
    me = await c.post(printed(text, "web api") + "auth.test", headers=bearer)
    assert me.status_code == 200 and me.json()["ok"] is True
    posted = await c.post(printed(text, "webhook"), json={"text": "Hello from Hubwire"})
    assert posted.status_code == 200 and posted.text == "ok"
    wrong = await c.post(printed(text, "web api") + "auth.test", headers={"Authorization": "Bearer xoxb-wrong"})
    assert wrong.json() == {"ok": False, "error": "invalid_auth"}


async def teams_answers(c: httpx.AsyncClient, text: str) -> None:
    for label in ("webhook", "workflow"):
        posted = await c.post(printed(text, label), json=TEAMS_MESSAGE)
        assert posted.status_code in (200, 202), posted.text


async def sendgrid_answers(c: httpx.AsyncClient, text: str) -> None:
    mail = {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "hubwire@example.com"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hello from Hubwire"}],
    }
    sent = await c.post("/v3/mail/send", json=mail, headers={"Authorization": f"Bearer {printed(text, 'api key')}"})
    assert sent.status_code == 202, sent.text
    refused = await c.post("/v3/mail/send", json=mail, headers={"Authorization": "Bearer SG.wrong"})
    assert refused.status_code == 401


async def twilio_answers(c: httpx.AsyncClient, text: str) -> None:
    sid, token = printed(text, "account sid"), printed(text, "auth token")
    sender = re.search(r"sender (\+\d+)", text)
    assert sender, text
    messages = f"/2010-04-01/Accounts/{sid}/Messages.json"
    sent = await c.post(messages, data={"To": "+15005550010", "From": sender.group(1), "Body": "Hi"}, auth=(sid, token))
    assert sent.status_code == 201, sent.text
    listed = await c.get(messages, auth=(sid, token))
    assert [m["sid"] for m in listed.json()["messages"]] == [sent.json()["sid"]]
    assert (await c.get(messages, auth=(sid, "wrong"))).status_code == 401


async def hubspot_answers(c: httpx.AsyncClient, text: str) -> None:
    bearer = {"Authorization": f"Bearer {printed(text, 'token')}"}
    contacts = await c.get("/crm/v3/objects/contacts", headers=bearer)
    assert contacts.status_code == 200 and len(contacts.json()["results"]) == 2
    assert (await c.get("/crm/v3/objects/contacts")).status_code == 401
    # The OAuth app it printed is registered: its authorize page approves at once, an unknown client is refused.
    app = re.search(r"--client-id (\S+) --client-secret (\S+) --authorize-url (\S+)", text)
    assert app, text
    query = {"client_id": app.group(1), "redirect_uri": "http://127.0.0.1:9/callback", "state": "s"}
    approved = await c.get(app.group(3), params=query)
    assert approved.status_code == 302 and "code=" in approved.headers["location"]
    assert (await c.get(app.group(3), params={**query, "client_id": "nope"})).status_code == 400


async def salesforce_answers(c: httpx.AsyncClient, text: str) -> None:
    bearer = {"Authorization": f"Bearer {printed(text, 'session id')}"}
    query = {"q": "SELECT Id, LastName FROM Contact"}
    found = await c.get("/services/data/v59.0/query", params=query, headers=bearer)
    assert found.status_code == 200 and found.json()["totalSize"] == 2
    assert (await c.get("/services/data/v59.0/query", params=query)).status_code == 401


async def pipedrive_answers(c: httpx.AsyncClient, text: str) -> None:
    persons = await c.get("/v1/persons", params={"api_token": printed(text, "api token")})
    assert persons.status_code == 200 and len(persons.json()["data"]) == 2
    assert (await c.get("/v1/persons", params={"api_token": "wrong"})).status_code == 401


def printed_destinations(text: str) -> dict[str, dict[str, str]]:
    """The ``destinations`` of the printed ``Integration.connect(provider="analytics", ...)``."""
    found = re.search(r'Integration\.connect\(provider="analytics", destinations=(\{.*\})\)$', text, re.MULTILINE)
    assert found, text
    destinations: dict[str, dict[str, str]] = ast.literal_eval(found.group(1))
    return destinations


async def forwarded(c: httpx.AsyncClient, text: str, name: str, **wrong: str) -> list[httpx.Response]:
    """Send two events as Hubwire's forwarding would with the printed settings (each answered), then with
    ``wrong`` settings (the answers returned)."""
    conf = printed_destinations(text)[name]
    events = [
        AnalyticsEvent("col_1", "signup", "u_1", 1_765_000_000.0, {"plan": "pro"}, "collect"),
        AnalyticsEvent("col_2", "error", "u_1", 1_765_000_001.0, {"message": "boom"}, "collect"),
    ]

    async def send(settings: dict[str, str]) -> list[httpx.Response]:
        return [
            await c.post(r.url, params=r.params, headers=r.headers, json=r.json, content=r.content)
            for r in DESTINATIONS[name].build(settings, events)
        ]

    for answer in await send(conf):
        assert answer.status_code in (200, 204), answer.text
    return await send({**conf, **wrong})


async def posthog_answers(c: httpx.AsyncClient, text: str) -> None:
    assert printed(text, "project api key") == printed_destinations(text)["posthog"]["api_key"]
    assert [r.status_code for r in await forwarded(c, text, "posthog", api_key="phc_wrong")] == [401]


async def mixpanel_answers(c: httpx.AsyncClient, text: str) -> None:
    assert printed(text, "api secret") == printed_destinations(text)["mixpanel"]["api_secret"]
    assert [r.status_code for r in await forwarded(c, text, "mixpanel", api_secret="wrong")] == [401]


async def segment_answers(c: httpx.AsyncClient, text: str) -> None:
    assert printed(text, "write key") == printed_destinations(text)["segment"]["write_key"]
    assert [r.status_code for r in await forwarded(c, text, "segment", write_key="wrong")] == [401]


async def ga4_answers(c: httpx.AsyncClient, text: str) -> None:
    conf = printed_destinations(text)["ga"]
    assert printed(text, "measurement id") == conf["measurement_id"]
    await forwarded(c, text, "ga")
    # Google answers 204 whatever it drops; its validation endpoint says whether the body was good.
    body = {"client_id": "u_1", "events": [{"name": "signup", "params": {"plan": "pro"}}]}
    params = {"measurement_id": conf["measurement_id"], "api_secret": conf["api_secret"]}
    checked = await c.post("/debug/mp/collect", params=params, json=body)
    assert checked.status_code == 200 and checked.json() == {"validationMessages": []}
    wrong = await c.post("/debug/mp/collect", params={**params, "api_secret": "wrong"}, json=body)
    assert wrong.json()["validationMessages"], wrong.text


async def sentry_answers(c: httpx.AsyncClient, text: str) -> None:
    dsn = printed_destinations(text)["sentry"]["dsn"]
    assert printed(text, "dsn") == dsn and f'sentry_sdk.init(dsn="{dsn}")' in text
    other = dsn.replace("//", "//0000", 1)  # another public key for the same project
    assert [r.status_code for r in await forwarded(c, text, "sentry", dsn=other)] == [403, 403]


Answers = Callable[[httpx.AsyncClient, str], Awaitable[None]]
CONNECTORS = {
    "stripe": 'api_key="sk_test_hubwire"',
    "github": f'token="{DEFAULT_TOKEN}"',
    "hubspot": f'access_token="{HUBSPOT_TOKEN}"',
    "salesforce": f'access_token="{DEFAULT_SESSION}"',
    "pipedrive": f'api_token="{DEFAULT_API_TOKEN}"',
}
# Connectors whose connect line names its own URL: the Slack Web API's, or the webhook as the credential.
MESSAGING = {
    "slack": '/api")',
    "teams": 'provider="teams", webhook="http://127.0.0.1:',
    "sendgrid": 'provider="sendgrid", api_key=',
    "twilio": 'provider="twilio", account_sid=',
}
# The analytics destinations: one connect line, the analytics provider's, naming the simulator's URL.
ANALYTICS = {"posthog", "mixpanel", "segment", "ga4", "sentry"}
# Providers that publish no machine-readable description (the simulators follow their API reference).
UNDESCRIBED = {"hubspot", "pipedrive", "posthog", "segment", "ga4", "sentry"}


@pytest.mark.parametrize(
    ("args", "answers"),
    [
        (["stripe", "--customers", "7"], stripe_answers),
        (["github", "--issues", "3"], github_answers),
        (["slack"], slack_answers),
        (["teams"], teams_answers),
        (["sendgrid"], sendgrid_answers),
        (["twilio"], twilio_answers),
        (["hubspot", "--contacts", "2"], hubspot_answers),
        (["salesforce", "--contacts", "2"], salesforce_answers),
        (["salesforce", "--contacts", "2", "--tls"], salesforce_answers),
        (["pipedrive", "--persons", "2"], pipedrive_answers),
        (["posthog"], posthog_answers),
        (["mixpanel"], mixpanel_answers),
        (["segment"], segment_answers),
        (["ga4"], ga4_answers),
        (["sentry"], sentry_answers),
    ],
    ids=[
        "stripe",
        "github",
        "slack",
        "teams",
        "sendgrid",
        "twilio",
        "hubspot",
        "salesforce",
        "salesforce-tls",
        "pipedrive",
        "posthog",
        "mixpanel",
        "segment",
        "ga4",
        "sentry",
    ],
)
async def test_simulate_command_serves_until_sigterm(args: list[str], answers: Answers, tmp_path: Path) -> None:
    lines: list[str] = []
    async with forked(["simulate", *args, "--port", "0"], tmp_path) as command:
        async with asyncio.timeout(60):
            async for line in command.lines():
                lines.append(line)
                if "Ctrl-C" in line:
                    break
        assert any("Ctrl-C" in line for line in lines), "the command ended early: " + "".join(lines)
        text = "".join(lines)
        url = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", text)
        assert url, text
        provider = args[0]
        if provider in CONNECTORS:
            assert f'api_base_url="{url.group(1)}"' in text and CONNECTORS[provider] in text
        elif provider in ANALYTICS:
            assert "HUBWIRE_ALLOW_PRIVATE_NETWORKS=1" in text and "api_base_url" not in text
            assert url.group(1).split("//")[1] in str(printed_destinations(text))
        elif provider in MESSAGING:
            assert "Integration.connect(" in text and MESSAGING[provider] in text
        else:  # no connector yet: no connect line that would fail
            assert "connector: coming" in text and "Integration.connect" not in text
        if provider in UNDESCRIBED:
            assert "spec check: none published" in text
        else:
            # Run from this checkout, the simulator finds the specs folder beside it (when it is there).
            checking = specs.locate_specs_dir() is not None
            assert ("spec check: on" in text) is checking
        verify: ssl.SSLContext | bool = True
        if "--tls" in args:
            assert url.group(1).startswith("https://"), text
            verify = ssl.create_default_context(cafile=re.sub(r"\s.*", "", text.split("self-signed certificate ")[1]))
        async with httpx.AsyncClient(base_url=url.group(1), verify=verify) as c:
            await answers(c, text)
    assert command.proc.exitcode == 0


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


def test_every_simulator_class_is_exported_from_the_package() -> None:
    provided = {
        name: getattr(module, name)
        for info in pkgutil.iter_modules(hubwire.simulators.__path__)
        if info.ispkg
        for module in [importlib.import_module(f"hubwire.simulators.{info.name}")]
        for name in module.__all__
        if name.endswith("Simulator")
    }
    assert len(provided) == 14
    assert {name: getattr(hubwire.simulators, name, None) for name in provided} == provided
    assert set(provided) <= set(hubwire.simulators.__all__)


def test_every_simulate_command_offers_a_bound_on_what_it_keeps() -> None:
    from typer.testing import CliRunner

    from hubwire.cli.app import app

    runner = CliRunner()
    commands = [c.name for c in simulate_app.registered_commands]
    assert len(commands) == 14
    for name in commands:
        shown = runner.invoke(app, ["simulate", str(name), "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        assert re.search(r"--keep .*Keep only the last N requests", shown.output), shown.output
        assert f"[default: {KEEP_REQUESTS}]" in shown.output.split("--keep", 1)[1], shown.output


async def test_a_long_running_simulate_keeps_only_its_last_requests_and_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from hubwire.simulators import posthog

    started: list[posthog.PostHogSimulator] = []
    ready = asyncio.Event()

    class Watched(posthog.PostHogSimulator):
        async def start(self) -> Self:
            await super().start()
            started.append(self)
            ready.set()
            return self

    monkeypatch.setattr(posthog, "PostHogSimulator", Watched)
    stop = asyncio.Event()
    serving = asyncio.create_task(run_posthog("127.0.0.1", 0, stop, keep=3))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        (sim,) = started
        async with httpx.AsyncClient(base_url=sim.url) as c:
            for n in range(10):
                batch = [{"event": f"e{n}-{i}", "properties": {"distinct_id": "ada"}} for i in range(2)]
                r = await c.post("/batch/", json={"api_key": posthog.DEFAULT_PROJECT_KEY, "batch": batch})
                assert r.status_code == 200, r.text
        # Twenty events in ten requests: the last three of each are kept, the newest.
        assert len(sim.requests) == len(sim.request_times) == 3
        assert [e.event for e in sim.events] == ["e8-1", "e9-0", "e9-1"]
    finally:
        stop.set()
        await serving
