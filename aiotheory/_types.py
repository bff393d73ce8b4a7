"""Type aliases and Protocols shared across layers; nothing executable lives here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

__all__ = ["AttributeValue", "Clock", "Item", "Payload", "RandomFn", "SleepFn"]

#: DynamoDB JSON as sent and received at the transport boundary: the one sanctioned `Any`.
Payload: TypeAlias = dict[str, Any]
#: One DynamoDB AttributeValue, e.g. {"S": "x"}, {"N": "1"}, {"M": {...}}.
AttributeValue: TypeAlias = dict[str, Any]
#: An item: stored attribute name -> AttributeValue.
Item: TypeAlias = dict[str, AttributeValue]
#: A monotonic or wall clock returning seconds.
Clock: TypeAlias = Callable[[], float]
SleepFn: TypeAlias = Callable[[float], Awaitable[None]]
RandomFn: TypeAlias = Callable[[], float]
