"""Connectors: the provider interface and registry; a module or folder per provider."""

from hubwire.connectors.registry import Provider, ProviderContext, ProviderRegistry, SyncProgress, provider

__all__ = ["Provider", "ProviderContext", "ProviderRegistry", "SyncProgress", "provider"]
