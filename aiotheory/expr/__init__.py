"""Conditions, key conditions, updates and projections from model attributes, rendered with placeholders.

Every attribute name becomes a `#n` placeholder and every value a `:v` placeholder, numbered by one `Params`
per request. Imports only `aiotheory.errors` and `aiotheory._types` (and `aiotheory.codec` lazily, on first
dynamic encode): no asyncio, anyio, transport or pydantic.
"""

from __future__ import annotations

from ._attr import Attr as Attr
from ._attr import AttributeType as AttributeType
from ._attr import F as F
from ._attr import size as size
from ._nodes import Condition as Condition
from ._nodes import IfNotExists as IfNotExists
from ._nodes import Operand as Operand
from ._nodes import Raw as Raw
from ._nodes import Size as Size
from ._nodes import Update as Update
from ._params import Params as Params
from ._render import render_condition as render_condition
from ._render import render_key_condition as render_key_condition
from ._render import render_projection as render_projection
from ._render import render_update as render_update

__all__ = [
    "Attr",
    "AttributeType",
    "Condition",
    "F",
    "IfNotExists",
    "Operand",
    "Params",
    "Raw",
    "Size",
    "Update",
    "render_condition",
    "render_key_condition",
    "render_projection",
    "render_update",
    "size",
]
