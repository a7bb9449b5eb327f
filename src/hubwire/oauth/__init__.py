"""OAuth 2.0 connections: OAuth apps, authorization (code + PKCE, client credentials), tokens.

The interface the connectors use is one function::

    token = await oauth.access_token(hub, integration_id)   # fresh: refreshed first when due

(and, after a 401, ``access_token(hub, integration_id, rejected=token)``). Users see
``Integration.authorize`` / ``Integration.connect(code=..., state=...)`` and the OAuth apps
(:func:`set_app`). Modules: ``spec`` (a provider's OAuth as data), ``apps``, ``states``,
``client`` (Authlib over the hub's HTTP layer), ``flow`` (authorize, obtain), ``tokens`` (the
refresh and its lock), ``custom`` (OAuth providers declared as data).
"""

from hubwire.oauth.apps import OAuthApp, delete_app, get_app, list_apps, set_app
from hubwire.oauth.spec import OAuthSpec
from hubwire.oauth.tokens import REAUTH_REQUIRED, access_token, refresh_count

__all__ = [
    "REAUTH_REQUIRED",
    "OAuthApp",
    "OAuthSpec",
    "access_token",
    "delete_app",
    "get_app",
    "list_apps",
    "refresh_count",
    "set_app",
]
