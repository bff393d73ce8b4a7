"""DynamoDB's documented expression limits, checked client-side so a bad request fails before it is sent.

Constants only; imports nothing.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ATTRIBUTE_TYPES", "MAX_EXPRESSION_BYTES", "MAX_IN_OPERANDS", "MAX_PLACEHOLDER_BYTES"]

#: "The maximum length of any expression string is 4 KB" (each of condition, filter, key condition,
#: update and projection counts separately).
MAX_EXPRESSION_BYTES: Final = 4096
#: "The maximum number of operands for the IN comparator is 100."
MAX_IN_OPERANDS: Final = 100
#: "The maximum length of any single expression attribute name or expression attribute value is 255 bytes"
#: (the placeholder itself, e.g. `#status`); only Raw placeholders can come near it.
MAX_PLACEHOLDER_BYTES: Final = 255
#: The type descriptors attribute_type() accepts.
ATTRIBUTE_TYPES: Final = frozenset({"S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"})
