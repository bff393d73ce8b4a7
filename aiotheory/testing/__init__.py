"""aiotheory's test kit and pytest plugin (`-p aiotheory.testing`): engines, fixtures and fake transports."""

from __future__ import annotations

__all__: list[str] = []
