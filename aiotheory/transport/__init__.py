"""The wire: the `Transport` protocol and its two implementations, each loaded on first touch.

Lazy (PEP 562): importing `aiotheory.transport` loads neither the lean wire nor aiobotocore;
`LeanTransport` loads the stdlib HTTP/1.1 client, `BotocoreTransport` aiobotocore on its first send.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from .base import Transport as Transport

if TYPE_CHECKING:
    from .botocore import BotocoreTransport as BotocoreTransport
    from .lean import LeanTransport as LeanTransport

__all__ = ["BotocoreTransport", "LeanTransport", "Transport"]

_LAZY: Final[dict[str, str]] = {
    "BotocoreTransport": "aiotheory.transport.botocore",
    "LeanTransport": "aiotheory.transport.lean",
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiotheory.transport' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
