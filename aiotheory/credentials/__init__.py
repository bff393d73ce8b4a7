"""Credentials: the value, the `CredentialProvider` seam, its providers and the AssumeRole cache.

Imports point one way: credentials may use the lean wire (`transport._pool`, `_http11`, `_sigv4`) for
STS; the wire never imports credentials. `AssumeRoleProvider` (and with it the call function and the
STS client) loads on first touch (PEP 562), so explicit and environment credentials stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from ._providers import BotocoreChainProvider as BotocoreChainProvider
from ._providers import ChainProvider as ChainProvider
from ._providers import CredentialProvider as CredentialProvider
from ._providers import Credentials as Credentials
from ._providers import CredentialsLike as CredentialsLike
from ._providers import EnvProvider as EnvProvider
from ._providers import StaticProvider as StaticProvider
from ._providers import default_provider as default_provider
from ._providers import resolve as resolve

if TYPE_CHECKING:
    from ._assume_role import AssumeRoleProvider as AssumeRoleProvider

__all__ = [
    "AssumeRoleProvider",
    "BotocoreChainProvider",
    "ChainProvider",
    "CredentialProvider",
    "Credentials",
    "CredentialsLike",
    "EnvProvider",
    "StaticProvider",
    "default_provider",
    "resolve",
]

_LAZY: Final[dict[str, str]] = {"AssumeRoleProvider": "aiotheory.credentials._assume_role"}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiotheory.credentials' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
