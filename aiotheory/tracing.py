"""The public tracing hook: one span per AWS call (all its retries), for OpenTelemetry, X-Ray or your own.

`set_tracer(tracer)` installs any object with `start`/`end` (the `Tracer` protocol); `aiotheory.otel`
is a ready adapter. Imports only the standard library (through `_observe`).
"""

from __future__ import annotations

from ._observe import CallRecord as CallRecord
from ._observe import Tracer as Tracer
from ._observe import get_tracer as get_tracer
from ._observe import set_tracer as set_tracer

__all__ = ["CallRecord", "Tracer", "get_tracer", "set_tracer"]
