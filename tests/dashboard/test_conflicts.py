"""The dashboard's review queue: a conflict parked by a sync against the Stripe simulator is listed,
shown with its base, local and remote values, and resolved by a form, on both sides, with the
signed-in key's name in the audit trail."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

import hubwire
import hubwire.conflicts
from hubwire.api.keys import create_api_key
from hubwire.domains.billing import Customer
from hubwire.domains.platform import Integration, run_sync
from hubwire.simulators.stripe import StripeSimulator
from tests.dashboard.conftest import browser, sign_in

KEY = "sk_test_hubwire"


@pytest.mark.parametrize("choice", ["local", "remote", "value"])
async def test_a_parked_conflict_is_resolved_from_the_dashboard(
    hub: hubwire.Hub, app: FastAPI, stripe_sim: StripeSimulator, choice: str
) -> None:
    cus = stripe_sim.seed("customer", email="ada@example.com", name="Ada")
    integ = await Integration.connect(
        provider="stripe", api_key=KEY, api_base_url=stripe_sim.url, conflicts={"Customer.email": "manual"}
    )
    await run_sync(hub, integ.id)
    (local,) = await Customer.find({})
    await Integration.disconnect(integ.id)  # an edit Stripe does not get, then one at Stripe
    await Customer.update(local.id, email="ada@home.example")
    await Integration.connect(integ.id, api_key=KEY)
    stripe_sim.state.update("customer", cus["id"], {"email": "ada@work.example"})
    await run_sync(hub, integ.id)
    (conflict,) = await hubwire.conflicts.list(status="open")

    _, key = await create_api_key(hub, "ops-desk", "write")
    async with browser(app) as c:
        csrf = await sign_in(c, key)
        listed = await c.get("/conflicts")
        assert listed.status_code == 200 and f'href="/conflicts/{conflict.id}"' in listed.text
        shown = await c.get(f"/conflicts/{conflict.id}")
        assert shown.status_code == 200
        for value in ("ada@example.com", "ada@home.example", "ada@work.example"):  # base, local, remote
            assert value in shown.text, shown.text[shown.text.find("<tbody") :][:1500]
        assert re.search(r'name="take_email" value="local"', shown.text)

        # A form that leaves the field undecided is refused and changes nothing.
        refused = await c.post(f"/conflicts/{conflict.id}/resolve", data={"csrf": csrf, "reason": "?"})
        assert refused.status_code == 422 and 'role="alert"' in refused.text
        assert (await hubwire.conflicts.get(conflict.id)).status == "open"

        form = {"csrf": csrf, "take_email": choice, "value_email": '"ada@both.example"', "reason": "asked Ada"}
        r = await c.post(f"/conflicts/{conflict.id}/resolve", data=form)
        assert r.status_code == 303 and r.headers["location"] == f"/conflicts/{conflict.id}"
    expected = {"local": "ada@home.example", "remote": "ada@work.example", "value": "ada@both.example"}[choice]
    done = await hubwire.conflicts.get(conflict.id)
    assert (done.status, done.resolved_by, done.reason) == ("resolved", "ops-desk", "asked Ada")
    assert (await Customer.get(local.id))["email"] == expected
    assert stripe_sim.store["customer"][cus["id"]]["email"] == expected  # both sides
