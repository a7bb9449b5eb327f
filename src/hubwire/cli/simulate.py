"""``hubwire simulate <provider>``: a local provider simulator in the foreground, no account needed.

Prints the simulator's URL, the credential to use and a ready-to-paste ``Integration.connect(...)``
(or "connector: coming" for providers whose connector has not landed yet); runs until Ctrl-C or
SIGTERM. Listens on 127.0.0.1 only unless ``--host`` says otherwise. Keeps only the last ``--keep``
requests and what they sent (events, messages, mails), so its memory stays bounded however long it runs.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from hubwire.cli.output import say

__all__ = [
    "run_ga4",
    "run_github",
    "run_hubspot",
    "run_mixpanel",
    "run_pipedrive",
    "run_posthog",
    "run_salesforce",
    "run_segment",
    "run_sendgrid",
    "run_sentry",
    "run_slack",
    "run_stripe",
    "run_teams",
    "run_twilio",
    "simulate_app",
]

# The values of the custom field the CRM simulators seed, for field mappings to map.
TIERS = ("gold", "silver", "bronze")

simulate_app = typer.Typer(
    help="Run a local provider simulator (no provider account needed).", no_args_is_help=True
)  # fmt: skip

DEFAULT_KEY = "sk_test_hubwire"
# A long-running simulator keeps only its last requests and what they sent (tests keep them all).
KEEP_REQUESTS = 10_000
COMING = "connector: coming (point a client at the URL above with the credential above)"

# The options every command shares.
HOST = typer.Option("127.0.0.1", "--host", help="Address to listen on.")
KEEP = typer.Option(
    KEEP_REQUESTS,
    "--keep",
    min=1,
    help="Keep only the last N requests in memory, and the last N of what they sent (events, messages, mails).",
)
CHECK_SPEC = typer.Option(
    True, "--check-spec/--no-check-spec", help="Check requests against ../shared/specs when present."
)  # fmt: skip


def _port(default: int) -> int:
    return typer.Option(default, "--port", min=0, max=65535, help="Port to listen on (0: any free port).")


@simulate_app.command("stripe")
def stripe(
    port: int = typer.Option(12111, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    customers: int = typer.Option(0, "--customers", min=0, help="Seed this many customers."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    check_spec: bool = typer.Option(
        True, "--check-spec/--no-check-spec", help="Check requests against ../shared/specs when present."
    ),
    keep: int = KEEP,
) -> None:
    """A Stripe API simulator: customers, products, prices, plans, subscriptions, invoices, events."""
    asyncio.run(_until_signal(lambda stop: run_stripe(host, port, customers, check_spec, stop, keep=keep)))


async def _until_signal(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run a simulator until SIGINT or SIGTERM sets its stop event."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _line(text: str) -> None:
    # Plain, unwrapped and unmarked-up (not ``say``): URLs and credentials must be copyable whole, and the
    # console would wrap a long webhook URL at the terminal's width.
    typer.echo(text)


def _oauth_app(sim: Any, provider: str, authorize: str, token: str) -> str:
    """Register the simulator's OAuth app; the line that sets it in Hubwire (then ``--oauth`` connects)."""
    from hubwire.simulators.oauth import SIMULATOR_CLIENT_ID, SIMULATOR_CLIENT_SECRET

    sim.oauth.register(SIMULATOR_CLIENT_ID, SIMULATOR_CLIENT_SECRET)
    return (
        f"OAuth app: hubwire oauth-apps set {provider} --client-id {SIMULATOR_CLIENT_ID} "
        f"--client-secret {SIMULATOR_CLIENT_SECRET} --authorize-url {sim.url}{authorize} --token-url {sim.url}{token}"
    )


def _announce(
    name: str,
    url: str,
    credential: str,
    checking: bool | None,
    seeded: str,
    connect: str | None,
    *extra: str,
    base: str | None = "",
) -> None:
    """Print where the simulator listens, the credential, what was seeded and how to connect.

    ``checking`` None: the provider publishes no machine-readable description to check against.
    ``connect`` None: no connector yet, say so rather than print a connect line that would fail.
    ``base``: the ``api_base_url`` to connect with ("": the simulator's URL; None: none, the credential is a URL).
    """
    _line(f"{name} simulator listening on {url}")
    check = "none published" if checking is None else "on" if checking else "off (no shared/specs folder)"
    _line(f"{credential} · spec check: {check}")
    for line in extra:
        _line(line)
    _line(f"seeded: {seeded}")
    if connect is None:
        _line(COMING)
    else:
        _line("connect with:")
        at = url if base == "" else base
        _line(f"    await Integration.connect({connect}" + (f', api_base_url="{at}")' if at else ")"))
    _line("Ctrl-C to stop.")


def _report_mismatches(name: str, mismatches: list[str]) -> None:
    if mismatches:
        say(f"{len(mismatches)} request(s) did not match {name}'s spec:", err=True)
        for line in mismatches[:20]:
            say(f"  {escape(line)}", err=True)


async def run_stripe(
    host: str, port: int, customers: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS
) -> None:
    """Serve a seeded Stripe simulator until ``stop`` is set."""
    from hubwire.simulators.stripe import StripeSimulator

    async with StripeSimulator(
        api_keys=(DEFAULT_KEY,), host=host, port=port, check_spec=check_spec, keep_requests=keep
    ) as sim:
        if customers:
            sim.seed_many("customer", customers)
        product = sim.seed("product", name="Pro")
        price = sim.seed(
            "price", product=product["id"], unit_amount=2000, unit_amount_decimal="2000", type="recurring",
            recurring={"aggregate_usage": None, "interval": "month", "interval_count": 1, "usage_type": "licensed"},
        )  # fmt: skip
        seeded = f"{customers} customers, product {product['id']}, price {price['id']}"
        connect = f'provider="stripe", api_key="{DEFAULT_KEY}"'
        _announce("Stripe", sim.url, f"api key: {DEFAULT_KEY}", sim.checker is not None, seeded, connect)
        await stop.wait()
        _report_mismatches("Stripe", sim.mismatches)


@simulate_app.command("github")
def github(
    port: int = typer.Option(12112, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    issues: int = typer.Option(5, "--issues", min=0, help="Seed this many issues in the demo repository."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    check_spec: bool = typer.Option(
        True, "--check-spec/--no-check-spec", help="Check requests against ../shared/specs when present."
    ),
    keep: int = KEEP,
) -> None:
    """A GitHub API simulator: repositories, issues, pull requests, comments, Link pagination, ETags."""
    asyncio.run(_until_signal(lambda stop: run_github(host, port, issues, check_spec, stop, keep=keep)))


async def run_github(
    host: str, port: int, issues: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS
) -> None:
    """Serve a seeded GitHub simulator until ``stop`` is set."""
    from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator

    async with GitHubSimulator(host=host, port=port, check_spec=check_spec, keep_requests=keep) as sim:
        repo = sim.seed_repo(sim.login, "demo", description="A demo repository")
        for i in range(issues):
            sim.seed_issue(sim.login, "demo", title=f"Demo issue {i + 1}", body="Seeded by hubwire simulate github")
        if issues:
            sim.seed_comment(sim.login, "demo", 1, body="A first comment")
        sim.seed_issue(sim.login, "demo", title="Demo pull request", body="Merged", merged=True)
        seeded = f"{repo['full_name']} with {issues} issues and a merged pull request"
        connect = f'provider="github", token="{DEFAULT_TOKEN}"'
        _announce("GitHub", sim.url, f"token: {DEFAULT_TOKEN}", sim.spec is not None, seeded, connect)
        await stop.wait()
        _report_mismatches("GitHub", sim.mismatches)


@simulate_app.command("slack")
def slack(port: int = _port(12113), host: str = HOST, check_spec: bool = CHECK_SPEC, keep: int = KEEP) -> None:
    """A Slack simulator: incoming webhooks and the Web API (auth.test, chat.postMessage, conversations.list)."""
    asyncio.run(_until_signal(lambda stop: run_slack(host, port, check_spec, stop, keep=keep)))


async def run_slack(host: str, port: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a Slack simulator (channels #general and #random, a webhook to #general) until ``stop`` is set."""
    from hubwire.simulators.slack import DEFAULT_TOKEN, SlackSimulator

    async with SlackSimulator(host=host, port=port, check_spec=check_spec, keep_requests=keep) as sim:
        webhook = sim.add_webhook("general")
        _announce(
            "Slack", sim.url, f"bot token: {DEFAULT_TOKEN}", sim.spec is not None,
            "channels #general and #random", f'provider="slack", token="{DEFAULT_TOKEN}"',
            f"web api: {sim.api_url}", f"webhook: {webhook}",
            f'or: await Integration.connect(provider="slack", webhook="{webhook}")',
            base=sim.api_url.rstrip("/"),
        )  # fmt: skip
        await stop.wait()
        _report_mismatches("Slack", sim.mismatches)


@simulate_app.command("teams")
def teams(port: int = _port(12114), host: str = HOST, check_spec: bool = CHECK_SPEC, keep: int = KEEP) -> None:
    """A Microsoft Teams simulator: incoming webhooks and Workflows webhooks taking Adaptive Cards."""
    asyncio.run(_until_signal(lambda stop: run_teams(host, port, check_spec, stop, keep=keep)))


async def run_teams(host: str, port: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a Teams simulator with one incoming webhook and one Workflows webhook until ``stop`` is set."""
    from hubwire.simulators.teams import TeamsSimulator

    async with TeamsSimulator(host=host, port=port, check_spec=check_spec, keep_requests=keep) as sim:
        webhook, workflow = sim.add_webhook(), sim.add_workflow()
        _announce(
            "Teams", sim.url, f"webhook: {webhook}", sim.spec is not None,
            "an incoming webhook and a Workflows webhook (the URL is the credential)",
            f'provider="teams", webhook="{webhook}"', f"workflow: {workflow}", base=None,
        )  # fmt: skip
        await stop.wait()
        _report_mismatches("Teams", sim.mismatches)


@simulate_app.command("sendgrid")
def sendgrid(port: int = _port(12115), host: str = HOST, check_spec: bool = CHECK_SPEC, keep: int = KEEP) -> None:
    """A SendGrid simulator: POST /v3/mail/send with SendGrid's validation and errors."""
    asyncio.run(_until_signal(lambda stop: run_sendgrid(host, port, check_spec, stop, keep=keep)))


async def run_sendgrid(
    host: str, port: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS
) -> None:
    """Serve a SendGrid simulator until ``stop`` is set (mail is kept in memory, never delivered)."""
    from hubwire.simulators.sendgrid import DEFAULT_API_KEY, SendGridSimulator

    async with SendGridSimulator(host=host, port=port, check_spec=check_spec, keep_requests=keep) as sim:
        _announce(
            "SendGrid", sim.url, f"api key: {DEFAULT_API_KEY}", sim.spec is not None,
            "nothing (mail sent is kept in memory, never delivered)",
            f'provider="sendgrid", api_key="{DEFAULT_API_KEY}", from_email="shop@example.com"',
        )  # fmt: skip
        await stop.wait()
        _report_mismatches("SendGrid", sim.mismatches)


@simulate_app.command("twilio")
def twilio(port: int = _port(12116), host: str = HOST, check_spec: bool = CHECK_SPEC, keep: int = KEEP) -> None:
    """A Twilio simulator: the Messages API (send, fetch, list) with Twilio's errors and status callbacks."""
    asyncio.run(_until_signal(lambda stop: run_twilio(host, port, check_spec, stop, keep=keep)))


async def run_twilio(host: str, port: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a Twilio simulator until ``stop`` is set (messages are kept in memory, never delivered)."""
    from hubwire.simulators.twilio import (
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
        DEFAULT_FROM,
        DEFAULT_SERVICE_SID,
        TwilioSimulator,
    )

    async with TwilioSimulator(host=host, port=port, check_spec=check_spec, keep_requests=keep) as sim:
        _announce(
            "Twilio", sim.url, f"account sid: {DEFAULT_ACCOUNT_SID} · auth token: {DEFAULT_AUTH_TOKEN}",
            sim.spec is not None, f"sender {DEFAULT_FROM} and messaging service {DEFAULT_SERVICE_SID}",
            f'provider="twilio", account_sid="{DEFAULT_ACCOUNT_SID}", auth_token="{DEFAULT_AUTH_TOKEN}", '
            f'from_number="{DEFAULT_FROM}"',
        )  # fmt: skip
        await stop.wait()
        _report_mismatches("Twilio", sim.mismatches)


@simulate_app.command("hubspot")
def hubspot(
    port: int = _port(12117),
    contacts: int = typer.Option(5, "--contacts", min=0, help="Seed this many contacts."),
    host: str = HOST,
    keep: int = KEEP,
) -> None:
    """A HubSpot CRM simulator: objects, properties, associations, search and OAuth."""
    asyncio.run(_until_signal(lambda stop: run_hubspot(host, port, contacts, stop, keep=keep)))


async def run_hubspot(host: str, port: int, contacts: int, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a seeded HubSpot simulator until ``stop`` is set."""
    from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator

    async with HubSpotSimulator(host=host, port=port, keep_requests=keep) as sim:
        company = sim.seed("companies", {"name": "Acme", "domain": "acme.example"})
        # Custom properties, for field mappings (hubwire mappings fields ID --noun Contact).
        sim.add_property("contacts", "tier", "enumeration", "select", options=list(TIERS))
        sim.add_property("contacts", "renewal_date", "date", "date")
        for i in range(contacts):
            sim.seed(
                "contacts",
                {
                    "email": f"contact{i + 1}@acme.example",
                    "firstname": f"Contact {i + 1}",
                    "tier": TIERS[i % len(TIERS)],
                    "renewal_date": f"2027-{i % 12 + 1:02d}-01",
                },
            )
        seeded = f"{contacts} contacts (custom properties tier, renewal_date) and company {company['id']}"
        connect = f'provider="hubspot", access_token="{DEFAULT_TOKEN}"'
        oauth = _oauth_app(sim, "hubspot", "/oauth/authorize", "/oauth/v1/token")
        _announce("HubSpot", sim.url, f"token: {DEFAULT_TOKEN}", None, seeded, connect, oauth)
        await stop.wait()
        _report_mismatches("HubSpot", sim.mismatches)


@simulate_app.command("salesforce")
def salesforce(
    port: int = _port(12118),
    contacts: int = typer.Option(5, "--contacts", min=0, help="Seed this many contacts."),
    tls: bool = typer.Option(
        False, "--tls", help="Serve HTTPS with a self-signed certificate (simple-salesforce needs HTTPS)."
    ),
    host: str = HOST,
    check_spec: bool = CHECK_SPEC,
    keep: int = KEEP,
) -> None:
    """A Salesforce REST API simulator: sObjects, SOQL queries, composite, limits and OAuth."""
    asyncio.run(_until_signal(lambda stop: run_salesforce(host, port, contacts, tls, check_spec, stop, keep=keep)))


async def run_salesforce(
    host: str, port: int, contacts: int, tls: bool, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS
) -> None:
    """Serve a seeded Salesforce simulator (plain HTTP unless ``tls``) until ``stop`` is set."""
    from hubwire.simulators.salesforce import DEFAULT_SESSION, SalesforceSimulator
    from hubwire.simulators.tls import self_signed

    with tempfile.TemporaryDirectory(prefix="hubwire-tls-") as folder:
        cert = self_signed(Path(folder), host) if tls else None
        ssl = None if cert is None else cert.server
        async with SalesforceSimulator(host=host, port=port, ssl=ssl, check_spec=check_spec, keep_requests=keep) as sim:
            account = sim.seed("Account", Name="Acme")
            sim.add_field("Contact", "Tier__c", "picklist", values=tuple(t.title() for t in TIERS))
            sim.add_field("Contact", "Renewal__c", "date")
            for i in range(contacts):
                sim.seed(
                    "Contact",
                    LastName=f"Contact {i + 1}",
                    AccountId=account["Id"],
                    Tier__c=TIERS[i % len(TIERS)].title(),
                    Renewal__c=f"2027-{i % 12 + 1:02d}-01",
                )
            transport = (
                "plain HTTP (simple-salesforce needs HTTPS: use --tls)"
                if cert is None
                else f"HTTPS, trust the self-signed certificate {cert.ca_file}"
            )
            connect = f'provider="salesforce", access_token="{DEFAULT_SESSION}", instance_url="{sim.url}"'
            _announce(
                "Salesforce", sim.url, f"session id: {DEFAULT_SESSION}", sim.routes is not None,
                f"account {account['Id']} with {contacts} contacts (custom fields Tier__c, Renewal__c)", connect,
                f"transport: {transport}",
                _oauth_app(sim, "salesforce", "/services/oauth2/authorize", "/services/oauth2/token"),
            )  # fmt: skip
            await stop.wait()
            _report_mismatches("Salesforce", sim.mismatches)


@simulate_app.command("pipedrive")
def pipedrive(
    port: int = _port(12119),
    persons: int = typer.Option(5, "--persons", min=0, help="Seed this many persons."),
    host: str = HOST,
    keep: int = KEEP,
) -> None:
    """A Pipedrive simulator: persons, organizations, deals, leads, custom fields (v1 and v2) and OAuth."""
    asyncio.run(_until_signal(lambda stop: run_pipedrive(host, port, persons, stop, keep=keep)))


async def run_pipedrive(host: str, port: int, persons: int, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a seeded Pipedrive simulator until ``stop`` is set."""
    from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator

    async with PipedriveSimulator(host=host, port=port, keep_requests=keep) as sim:
        org = sim.seed("organizations", name="Acme")
        tier = sim.add_field("persons", "Tier", "enum", options=[t.title() for t in TIERS])
        renewal = sim.add_field("persons", "Renewal", "date")
        for i in range(persons):
            custom: dict[str, Any] = {tier: i % len(TIERS) + 1, renewal: f"2027-{i % 12 + 1:02d}-01"}  # option ids
            sim.seed("persons", name=f"Person {i + 1}", org_id=org.id, **custom)
        seeded = f"{persons} persons in organization {org.id} (custom fields Tier {tier}, Renewal {renewal})"
        connect = f'provider="pipedrive", api_token="{DEFAULT_API_TOKEN}"'
        oauth = _oauth_app(sim, "pipedrive", "/oauth/authorize", "/oauth/token")
        _announce("Pipedrive", sim.url, f"api token: {DEFAULT_API_TOKEN}", None, seeded, connect, oauth)
        await stop.wait()
        _report_mismatches("Pipedrive", sim.mismatches)


# Analytics destinations: one ``analytics`` Integration forwards to any of them (issue 13). Each
# simulator is on loopback, so the connect line needs HUBWIRE_ALLOW_PRIVATE_NETWORKS=1.
PRIVATE = "(the simulator is on loopback: run Hubwire with HUBWIRE_ALLOW_PRIVATE_NETWORKS=1)"


def _analytics(destination: str, conf: str) -> str:
    return f'provider="analytics", destinations={{"{destination}": {{{conf}}}}}'


@simulate_app.command("posthog")
def posthog(port: int = _port(12120), host: str = HOST, keep: int = KEEP) -> None:
    """A PostHog capture simulator: /batch/, /capture/ and /i/v0/e/ with PostHog's errors."""
    asyncio.run(_until_signal(lambda stop: run_posthog(host, port, stop, keep=keep)))


async def run_posthog(host: str, port: int, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a PostHog simulator until ``stop`` is set (events are kept in memory)."""
    from hubwire.simulators.posthog import DEFAULT_PROJECT_KEY, PostHogSimulator

    async with PostHogSimulator(host=host, port=port, keep_requests=keep) as sim:
        _announce(
            "PostHog", sim.url, f"project api key: {DEFAULT_PROJECT_KEY}", None,
            "nothing (captured events are kept in memory)",
            _analytics("posthog", f'"api_key": "{DEFAULT_PROJECT_KEY}", "host": "{sim.url}"'), PRIVATE, base=None,
        )  # fmt: skip
        await stop.wait()


@simulate_app.command("mixpanel")
def mixpanel(port: int = _port(12121), host: str = HOST, check_spec: bool = CHECK_SPEC, keep: int = KEEP) -> None:
    """A Mixpanel ingestion simulator: /import (secret or service account) and /track."""
    asyncio.run(_until_signal(lambda stop: run_mixpanel(host, port, check_spec, stop, keep=keep)))


async def run_mixpanel(
    host: str, port: int, check_spec: bool, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS
) -> None:
    """Serve a Mixpanel simulator until ``stop`` is set (events are kept in memory)."""
    from hubwire.simulators.mixpanel import DEFAULT_API_SECRET, DEFAULT_PROJECT_ID, DEFAULT_TOKEN, MixpanelSimulator

    async with MixpanelSimulator(host=host, port=port, check_spec=check_spec, keep_requests=keep) as sim:
        _announce(
            "Mixpanel", sim.url, f"api secret: {DEFAULT_API_SECRET} · project token: {DEFAULT_TOKEN}",
            sim.spec is not None, f"project {DEFAULT_PROJECT_ID} (imported events are kept in memory)",
            _analytics("mixpanel", f'"api_secret": "{DEFAULT_API_SECRET}", "host": "{sim.url}"'), PRIVATE,
            base=None,
        )  # fmt: skip
        await stop.wait()
        _report_mismatches("Mixpanel", sim.mismatches)


@simulate_app.command("segment")
def segment(port: int = _port(12122), host: str = HOST, keep: int = KEEP) -> None:
    """A Segment tracking API simulator: /v1/batch, /v1/track and /v1/identify with the write key."""
    asyncio.run(_until_signal(lambda stop: run_segment(host, port, stop, keep=keep)))


async def run_segment(host: str, port: int, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a Segment simulator until ``stop`` is set (messages are kept in memory)."""
    from hubwire.simulators.segment import DEFAULT_WRITE_KEY, SegmentSimulator

    async with SegmentSimulator(host=host, port=port, keep_requests=keep) as sim:
        _announce(
            "Segment", sim.url, f"write key: {DEFAULT_WRITE_KEY}", None, "nothing (messages are kept in memory)",
            _analytics("segment", f'"write_key": "{DEFAULT_WRITE_KEY}", "host": "{sim.url}"'), PRIVATE, base=None,
        )  # fmt: skip
        await stop.wait()


@simulate_app.command("ga4")
def ga4(port: int = _port(12123), host: str = HOST, keep: int = KEEP) -> None:
    """A Google Analytics 4 Measurement Protocol simulator: /mp/collect and /debug/mp/collect."""
    asyncio.run(_until_signal(lambda stop: run_ga4(host, port, stop, keep=keep)))


async def run_ga4(host: str, port: int, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a GA4 simulator until ``stop`` is set (events are kept in memory)."""
    from hubwire.simulators.ga4 import DEFAULT_API_SECRET, DEFAULT_MEASUREMENT_ID, GA4Simulator

    async with GA4Simulator(host=host, port=port, keep_requests=keep) as sim:
        ids = f'"measurement_id": "{DEFAULT_MEASUREMENT_ID}", "api_secret": "{DEFAULT_API_SECRET}"'
        conf = f'{ids}, "host": "{sim.url}"'
        _announce(
            "GA4", sim.url, f"measurement id: {DEFAULT_MEASUREMENT_ID} · api secret: {DEFAULT_API_SECRET}", None,
            "nothing (collected events are kept in memory)", _analytics("ga", conf), PRIVATE, base=None,
        )  # fmt: skip
        await stop.wait()


@simulate_app.command("sentry")
def sentry(port: int = _port(12124), host: str = HOST, keep: int = KEEP) -> None:
    """A Sentry ingestion simulator: envelopes and the legacy store endpoint at the printed DSN."""
    asyncio.run(_until_signal(lambda stop: run_sentry(host, port, stop, keep=keep)))


async def run_sentry(host: str, port: int, stop: asyncio.Event, *, keep: int = KEEP_REQUESTS) -> None:
    """Serve a Sentry simulator until ``stop`` is set (events are kept in memory)."""
    from hubwire.simulators.sentry import DEFAULT_PROJECT, SentrySimulator

    async with SentrySimulator(host=host, port=port, keep_requests=keep) as sim:
        dsn = sim.dsn()
        _announce(
            "Sentry", sim.url, f"dsn: {dsn}", None, f"project {DEFAULT_PROJECT} (events are kept in memory)",
            _analytics("sentry", f'"dsn": "{dsn}"'), PRIVATE, f'or: sentry_sdk.init(dsn="{dsn}")', base=None,
        )  # fmt: skip
        await stop.wait()
