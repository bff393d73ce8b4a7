"""DynamoDB's documented expression limits, checked client-side so a bad request fails before it is sent.

Constants only; imports nothing.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTRIBUTE_TYPES",
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_OPERANDS",
    "MAX_LIST_INDEX",
    "MAX_OPERATORS",
    "MAX_PATH_DEPTH",
    "MAX_PLACEHOLDER_BYTES",
    "OPERATOR_FREE_BYTES",
]

#: "The maximum length of any expression string is 4 KB" (each of condition, filter, key condition,
#: update and projection counts separately).
MAX_EXPRESSION_BYTES: Final = 4096
#: "The maximum number of operands for the IN comparator is 100."
MAX_IN_OPERANDS: Final = 100
#: "The maximum length of any single expression attribute name or expression attribute value is 255 bytes"
#: (the placeholder itself, e.g. `#status`); only Raw placeholders can come near it.
MAX_PLACEHOLDER_BYTES: Final = 255
#: "The maximum number of operators or functions allowed in any expression is 300." Measured on
#: DynamoDB Local: each comparator, AND/OR, NOT, BETWEEN, IN and function counts once; 301 is refused.
MAX_OPERATORS: Final = 300
#: Every operator takes at least 3 characters ("a=b"), so a shorter expression cannot hold 301 of them
#: and is not scanned.
OPERATOR_FREE_BYTES: Final = 3 * MAX_OPERATORS
#: "nested attributes up to 32 levels deep": measured on DynamoDB Local, a document path of 32 segments
#: is accepted and 33 are refused ("The document path has too many nesting levels").
MAX_PATH_DEPTH: Final = 32
#: Measured on DynamoDB Local: `a[2147483647]` is accepted, `a[2147483648]` refused ("List index is not
#: within the allowable range"), in conditions and updates alike.
MAX_LIST_INDEX: Final = 2**31 - 1
#: The type descriptors attribute_type() accepts.
ATTRIBUTE_TYPES: Final = frozenset({"S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"})
