"""Python values <-> DynamoDB AttributeValue wire JSON, compiled once per model class.

A package of three layers, each importing only the ones before it:
- `_scalars`: numbers, scalars, the untyped path (`encode_value` / `decode_value`) and DynamoDB's sizes;
- `_types`: the `TypeCodec` picked once per field annotation;
- `_model`: the `ModelCodec` of a model class and the partial decoder for projections.

What this module exports is the public face; the package's modules use each other's public names only.
"""

from __future__ import annotations

from ._scalars import MAX_ITEM_BYTES as MAX_ITEM_BYTES
from ._scalars import MAX_NESTED_CONTAINERS as MAX_NESTED_CONTAINERS
from ._scalars import decode_value as decode_value
from ._scalars import encode_value as encode_value
from ._scalars import item_size as item_size
from ._scalars import nests_deeper as nests_deeper

__all__ = [
    "MAX_ITEM_BYTES",
    "MAX_NESTED_CONTAINERS",
    "decode_value",
    "encode_value",
    "item_size",
    "nests_deeper",
]
