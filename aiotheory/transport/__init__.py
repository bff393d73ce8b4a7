"""The wire: the `Transport` protocol and its implementations (imported lazily, by name)."""

from __future__ import annotations

from .base import Transport

__all__ = ["Transport"]
