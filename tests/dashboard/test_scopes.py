"""The dashboard's forms do what the signed-in key's scope allows, as their REST twins do, and no more."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

import hubwire
from hubwire.api.keys import create_api_key
from hubwire.api.scopes import Scope
from tests.dashboard.conftest import browser, sign_in

# Each form and the scope its REST twin needs (hubwire.api.scopes).
FORMS = {
    "/integrations/{id}/sync": Scope.WRITE,
    "/integrations/{id}/disconnect": Scope.ADMIN,
    "/integrations/{id}/mappings/{noun}": Scope.WRITE,
    "/catalogue/{provider}/connect": Scope.ADMIN,
    "/catalogue/{provider}/authorize": Scope.ADMIN,
    "/webhooks/endpoints": Scope.ADMIN,
    "/webhooks/endpoints/{id}/test": Scope.WRITE,
    "/webhooks/endpoints/{id}/recover": Scope.WRITE,
    "/webhooks/endpoints/{id}/rotate-secret": Scope.ADMIN,
    "/webhooks/deliveries/{id}/resend": Scope.WRITE,
    "/jobs/{id}/retry": Scope.WRITE,
    "/inbound/{id}/replay": Scope.WRITE,
    "/conflicts/{id:int}/resolve": Scope.WRITE,
    "/api-keys": Scope.ADMIN,
    "/api-keys/{id}/revoke": Scope.ADMIN,
}
ORDER = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


def test_every_form_is_in_the_table(app: FastAPI) -> None:
    from hubwire.api.app import declared_routes
    from hubwire.dashboard.pages import router

    posted = {path for method, path in declared_routes([router]) if method == "POST"}
    assert posted - {"/signin", "/signout"} == set(FORMS)


@pytest.mark.parametrize("scope", [Scope.READ, Scope.WRITE, Scope.ADMIN], ids=lambda s: s.value)
async def test_each_form_needs_its_rest_twins_scope(hub: hubwire.Hub, app: FastAPI, scope: Scope) -> None:
    _, key = await create_api_key(hub, f"{scope.value}-browser", scope)
    wrong = []
    async with browser(app) as c:
        csrf = await sign_in(c, key)
        for path, needed in FORMS.items():
            # Ids that name nothing: an allowed form answers 404/422 at worst and changes nothing.
            url = re.sub(r"\{[^}]+\}", "0", path).replace("/catalogue/0/", "/catalogue/nope/")
            r = await c.post(url, data={"csrf": csrf})
            refused = r.status_code == 403 and "insufficient_scope" in r.text
            if refused != (ORDER[scope] < ORDER[needed]):
                wrong.append(f"{path}: needs {needed.value}, a {scope.value} session got {r.status_code}")
    assert not wrong, "\n".join(wrong)
