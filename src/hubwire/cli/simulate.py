"""``hubwire simulate stripe|github``: a local provider simulator in the foreground, no account needed.

Prints the simulator's URL and a ready-to-paste ``Integration.connect(...)``; runs until Ctrl-C or
SIGTERM. Listens on 127.0.0.1 only unless ``--host`` says otherwise.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import typer
from rich.markup import escape

from hubwire.cli.output import say

__all__ = ["run_github", "run_stripe", "simulate_app"]

simulate_app = typer.Typer(
    help="Run a local provider simulator (no provider account needed).", no_args_is_help=True
)  # fmt: skip

DEFAULT_KEY = "sk_test_hubwire"


@simulate_app.command("stripe")
def stripe(
    port: int = typer.Option(12111, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    customers: int = typer.Option(0, "--customers", min=0, help="Seed this many customers."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    check_spec: bool = typer.Option(
        True, "--check-spec/--no-check-spec", help="Check requests against ../shared/specs when present."
    ),
) -> None:
    """A Stripe API simulator: customers, products, prices, plans, subscriptions, invoices, events."""
    asyncio.run(_until_signal(lambda stop: run_stripe(host, port, customers, check_spec, stop)))


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


def _announce(name: str, url: str, credential: str, checking: bool, seeded: str, connect: str) -> None:
    say(f"{name} simulator listening on {url}", err=False)
    say(f"{credential} · spec check: {'on' if checking else 'off (no shared/specs folder)'}", err=False)
    say(f"seeded: {seeded}", err=False)
    say("connect with:", err=False)
    say(f'    await Integration.connect({connect}, api_base_url="{url}")', err=False)
    say("Ctrl-C to stop.", err=False)


def _report_mismatches(name: str, mismatches: list[str]) -> None:
    if mismatches:
        say(f"{len(mismatches)} request(s) did not match {name}'s spec:", err=True)
        for line in mismatches[:20]:
            say(f"  {escape(line)}", err=True)


async def run_stripe(host: str, port: int, customers: int, check_spec: bool, stop: asyncio.Event) -> None:
    """Serve a seeded Stripe simulator until ``stop`` is set."""
    from hubwire.simulators.stripe import StripeSimulator

    async with StripeSimulator(api_keys=(DEFAULT_KEY,), host=host, port=port, check_spec=check_spec) as sim:
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
) -> None:
    """A GitHub API simulator: repositories, issues, pull requests, comments, Link pagination, ETags."""
    asyncio.run(_until_signal(lambda stop: run_github(host, port, issues, check_spec, stop)))


async def run_github(host: str, port: int, issues: int, check_spec: bool, stop: asyncio.Event) -> None:
    """Serve a seeded GitHub simulator until ``stop`` is set."""
    from hubwire.simulators.github import DEFAULT_TOKEN, GitHubSimulator

    async with GitHubSimulator(host=host, port=port, check_spec=check_spec, keep_requests=10_000) as sim:
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
