"""Not imported by handler.py, so never packaged: a local script beside the handler (like the payments
example's demo) that needs the test kit, which no Lambda zip carries."""

from __future__ import annotations

from aiotheory.testing import MotoServer

__all__ = ["MotoServer"]
