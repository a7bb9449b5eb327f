"""Credentials at rest: AES-256-GCM with a key from settings or generated once, 0600."""

from hubwire.vault.keys import Vault, load_or_create_key

__all__ = ["Vault", "load_or_create_key"]
