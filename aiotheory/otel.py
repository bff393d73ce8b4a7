"""OpenTelemetry adapter: one CLIENT span per DynamoDB call with the semantic-convention attributes.

`instrument()` installs it through `aiotheory.tracing.set_tracer`. Needs the `otel` extra
(opentelemetry-api), imported inside `instrument` so this module stays importable without it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from ._observe import CallRecord, get_tracer, set_tracer
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["instrument", "uninstrument"]

# Names from the OpenTelemetry semantic conventions (AWS SDK and DynamoDB client spans). Both the
# older `db.system` and its successor `db.system.name` are set: backends (X-Ray among them) still
# read the older one.
_START_ATTRIBUTES: Final = {
    "db.system": "dynamodb",
    "db.system.name": "aws.dynamodb",
    "rpc.system": "aws-api",
    "rpc.service": "DynamoDB",
}


class _OtelTracer:
    """Starts a CLIENT span named `DynamoDB.<Operation>` (the AWS SDK convention) per call."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def start(self, operation: str, tables: tuple[str, ...], partner: str | None) -> object:
        from opentelemetry.trace import SpanKind

        attributes: dict[str, str | list[str]] = {**_START_ATTRIBUTES, "rpc.method": operation}
        if tables:
            attributes["aws.dynamodb.table_names"] = list(tables)
        if partner is not None:
            attributes["aiotheory.partner"] = partner
        return self._tracer.start_span(f"DynamoDB.{operation}", kind=SpanKind.CLIENT, attributes=attributes)

    def end(self, span: object, record: CallRecord) -> None:
        from opentelemetry.trace import Span, Status, StatusCode

        if not isinstance(span, Span):
            return
        span.set_attribute("aiotheory.attempts", record.attempts)
        if record.request_id is not None:
            span.set_attribute("aws.request_id", record.request_id)
        if record.consumed_capacity:
            # string[]: the JSON of each ConsumedCapacity entry, as the convention asks
            consumed = [json.dumps(c, sort_keys=True) for c in record.consumed_capacity]
            span.set_attribute("aws.dynamodb.consumed_capacity", consumed)
        if record.error is not None:
            span.set_attribute("error.type", record.error)
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end()


def instrument(tracer_provider: TracerProvider | None = None) -> None:
    """Emit one OpenTelemetry span per AWS call, from `tracer_provider` (default: the global one).

    Raises:
        ModuleNotFoundError: opentelemetry-api is not installed (`pip install 'aiotheory[otel]'`).
    """
    try:
        from opentelemetry import trace
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "aiotheory.otel needs OpenTelemetry: pip install 'aiotheory[otel]'", name=exc.name
        ) from exc
    set_tracer(_OtelTracer(trace.get_tracer("aiotheory", __version__, tracer_provider=tracer_provider)))


def uninstrument() -> None:
    """Remove the tracer `instrument` installed (another tracer installed since is left alone)."""
    if isinstance(get_tracer(), _OtelTracer):
        set_tracer(None)
