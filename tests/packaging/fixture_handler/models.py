"""The stand-in handler's model: a local module the packager must find through handler.py's imports."""

from __future__ import annotations

from typing import Annotated

from aiotheory import PK, SK, Model

__all__ = ["Payment"]


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
