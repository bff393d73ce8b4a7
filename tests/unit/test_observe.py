"""Call observation: DEBUG records that follow the standard levels, the public tracer, OTel spans, EMF."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from aiotheory import _observe
from aiotheory._call import call
from aiotheory.aws_lambda import lambda_handler
from aiotheory.errors import Throttled
from aiotheory.retries import RetryPolicy
from aiotheory.testing import FakeTransport
from aiotheory.tracing import CallRecord, get_tracer, set_tracer

if TYPE_CHECKING:
    from aiotheory._types import Payload

_GET: Payload = {"TableName": "p_users", "Key": {"id": {"S": "u1"}}}
_CAPACITY = {"TableName": "p_users", "CapacityUnits": 0.5}


def _throttled() -> Throttled:
    return Throttled(
        "slow down", code="ThrottlingException", operation="GetItem", status=400, request_id="RID42"
    )


async def _nosleep(_: float) -> None:
    return None


def _policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=3, quota=None, sleep=_nosleep, random=lambda: 0.0)


class _Spans:
    def __init__(self) -> None:
        self.started: list[tuple[str, tuple[str, ...], str | None]] = []
        self.ended: list[CallRecord] = []

    def start(self, operation: str, tables: tuple[str, ...], partner: str | None) -> object:
        self.started.append((operation, tables, partner))
        return len(self.started)

    def end(self, span: object, record: CallRecord) -> None:
        self.ended.append(record)


async def test_call_logs_one_record_when_root_logger_is_set_to_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As `logging.basicConfig(level=logging.DEBUG)` would: only the root level changes, nothing private.
    caplog.set_level(logging.DEBUG)
    transport = FakeTransport(_throttled(), {"Item": _GET["Key"], "ConsumedCapacity": _CAPACITY})
    await call(transport, "GetItem", dict(_GET), _policy())
    records = [r for r in caplog.records if r.name == "aiotheory.calls"]
    assert len(records) == 1
    record: Any = records[0]
    assert (record.aws_operation, record.aws_table, record.aws_attempts, record.aws_outcome) == (
        "GetItem",
        "p_users",
        2,
        "ok",
    )
    assert record.aws_capacity_units == 0.5 and record.aws_duration_ms >= 0
    assert "operation=GetItem table=p_users attempts=2" in record.getMessage()


async def test_call_logs_error_code_and_request_id_when_attempts_run_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiotheory")
    transport = FakeTransport(_throttled(), _throttled(), _throttled())
    with pytest.raises(Throttled):
        await call(transport, "GetItem", dict(_GET), _policy())
    (record,) = [r for r in caplog.records if r.name == "aiotheory.calls"]
    assert (record.aws_outcome, record.aws_request_id, record.aws_attempts) == (
        "ThrottlingException",
        "RID42",
        3,
    )  # type: ignore[attr-defined]


async def test_call_logs_nothing_when_level_is_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await call(FakeTransport({}), "GetItem", dict(_GET), _policy())
    assert _observe.hook is None
    assert [r for r in caplog.records if r.name == "aiotheory.calls"] == []


async def test_tracer_sees_one_span_per_call_when_set_through_public_module() -> None:
    spans = _Spans()
    set_tracer(spans)
    try:
        assert get_tracer() is spans
        await call(FakeTransport(_throttled(), {}), "GetItem", dict(_GET), _policy())
    finally:
        set_tracer(None)
    assert spans.started == [("GetItem", ("p_users",), None)]
    (record,) = spans.ended
    assert (record.operation, record.attempts, record.outcome, record.tables) == (
        "GetItem",
        2,
        "ok",
        ("p_users",),
    )
    assert _observe.hook is None


async def test_call_sends_no_capacity_request_when_nothing_collects_metrics() -> None:
    transport = FakeTransport({})
    with _observe.invocation_scope("r1"):
        await call(transport, "GetItem", dict(_GET), _policy())
    assert "ReturnConsumedCapacity" not in transport.calls[0][1]


# ------------------------------------------------------------------------------------------- EMF


class _Context:
    function_name = "orders-api"
    aws_request_id = "inv-1"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


def test_handler_prints_one_emf_line_when_metrics_are_on(capsys: pytest.CaptureFixture[str]) -> None:
    transport = FakeTransport(
        {"Item": _GET["Key"], "ConsumedCapacity": _CAPACITY}, {"ConsumedCapacity": [_CAPACITY]}
    )

    @lambda_handler(metrics=True, buffer_ms=1000)
    async def handler(event: object, context: object) -> str:
        await call(transport, "GetItem", dict(_GET), _policy())
        await call(transport, "BatchGetItem", {"RequestItems": {"p_users": {"Keys": []}}}, _policy())
        return "done"

    try:
        assert handler({}, _Context()) == "done"
    finally:
        _observe.collect_metrics(False)  # the process-wide switch this handler turned on
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1
    doc = json.loads(lines[0])
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "aiotheory" and directive["Dimensions"] == [["FunctionName"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"Calls", "FailedCalls", "Retries", "AwsTimeMs", "ConsumedCapacity", "DeadlineHeadroomMs"}
    assert all(name in doc for name in names)
    assert isinstance(doc["_aws"]["Timestamp"], int)
    assert (doc["FunctionName"], doc["RequestId"], doc["Calls"], doc["ConsumedCapacity"]) == (
        "orders-api",
        "inv-1",
        2,
        1.0,
    )
    assert 0 < doc["DeadlineHeadroomMs"] <= 4000
    # capacity is only returned when asked: the summary asks for it
    assert all(sent.get("ReturnConsumedCapacity") == "TOTAL" for _, sent in transport.calls)


def test_handler_prints_nothing_when_metrics_are_off(capsys: pytest.CaptureFixture[str]) -> None:
    @lambda_handler(metrics=False)
    async def handler(event: object, context: object) -> str:
        await call(FakeTransport({}), "GetItem", dict(_GET), _policy())
        return "done"

    handler({}, _Context())
    assert capsys.readouterr().out == ""


def test_emf_line_omits_headroom_when_there_is_no_deadline() -> None:
    out = io.StringIO()
    with _observe.invocation_scope("r", metrics=True, function_name="f", wall=lambda: 1.5, out=out):
        pass
    doc = json.loads(out.getvalue())
    assert doc["_aws"]["Timestamp"] == 1500 and "DeadlineHeadroomMs" not in doc
    assert doc["Calls"] == 0


# ------------------------------------------------------------------------------------ OpenTelemetry


async def test_otel_span_carries_dynamodb_semantic_attributes_when_instrumented() -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from aiotheory import otel

    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    try:
        await call(
            FakeTransport({"Item": _GET["Key"], "ConsumedCapacity": _CAPACITY}),
            "GetItem",
            dict(_GET),
            _policy(),
        )
        with pytest.raises(Throttled):
            await call(
                FakeTransport(_throttled(), _throttled(), _throttled()), "PutItem", dict(_GET), _policy()
            )
    finally:
        otel.uninstrument()
    assert get_tracer() is None
    ok, failed = exporter.get_finished_spans()
    assert (ok.name, ok.kind) == ("DynamoDB.GetItem", SpanKind.CLIENT)
    attributes = dict(ok.attributes or {})
    assert attributes["db.system"] == "dynamodb" and attributes["rpc.system"] == "aws-api"
    assert (attributes["rpc.service"], attributes["rpc.method"]) == ("DynamoDB", "GetItem")
    assert tuple(attributes["aws.dynamodb.table_names"]) == ("p_users",)  # type: ignore[arg-type]
    assert [json.loads(c) for c in attributes["aws.dynamodb.consumed_capacity"]] == [_CAPACITY]  # type: ignore[union-attr]
    assert failed.name == "DynamoDB.PutItem" and failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["aws.request_id"] == "RID42"
    assert dict(failed.attributes or {})["error.type"] == "ThrottlingException"


# ------------------------------------------------------------------------- the partner in context


def test_aiotheory_log_records_carry_the_partner_when_a_partner_scope_is_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aiotheory")
    log = _observe.logger("aiotheory.credentials")  # as aiotheory.credentials makes it
    with _observe.partner_scope("p1"):
        log.warning("inside")
        with _observe.partner_scope(None):
            log.warning("cleared")
        log.warning("inside again")
    log.warning("outside")
    assert [(r.getMessage(), r.__dict__["partner"]) for r in caplog.records] == [
        ("inside", "p1"),
        ("cleared", None),
        ("inside again", "p1"),
        ("outside", None),
    ]


def test_every_aiotheory_logger_is_made_with_the_partner_filter_when_its_module_loads() -> None:
    import pathlib
    import re
    import subprocess
    import sys

    import aiotheory

    root = pathlib.Path(aiotheory.__file__).parent
    made: dict[str, str] = {}
    for path in root.rglob("*.py"):
        source = path.read_text()
        # Only _observe may call logging.getLogger for an aiotheory logger; the rest go through
        # _observe.logger, which attaches the filter.
        if path.name != "_observe.py":
            assert not re.search(r'getLogger\("aiotheory', source), path
        for name in re.findall(r'_logger\("(aiotheory[\w.]*)"\)', source):
            module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
            made[name] = module
    assert {"aiotheory.credentials", "aiotheory.lease", "aiotheory.streams"} <= set(made)
    # In a fresh interpreter: importing the module alone gives its logger the filter.
    probe = "; ".join(
        f"import {module}, logging; from aiotheory._observe import PartnerLogFilter; "
        f"assert any(isinstance(f, PartnerLogFilter) for f in logging.getLogger({name!r}).filters)"
        for name, module in made.items()
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
    assert any(isinstance(f, _observe.PartnerLogFilter) for f in _observe.calls_log.filters)


def test_partner_log_filter_tags_application_records_and_keeps_an_explicit_partner() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]  # a collecting handler
    handler.addFilter(_observe.PartnerLogFilter())
    app = logging.getLogger("test_observe.app")
    app.addHandler(handler)
    app.propagate = False
    try:
        with _observe.partner_scope("p7"):
            app.warning("served")
            app.warning("explicit", extra={"partner": "other"})
    finally:
        app.removeHandler(handler)
        app.propagate = True
    assert [r.__dict__["partner"] for r in records] == ["p7", "other"]


async def test_call_record_and_span_name_the_context_partner_when_the_transport_has_none() -> None:
    spans = _Spans()
    set_tracer(spans)
    try:
        with _observe.partner_scope("p3"):
            await call(FakeTransport({}), "GetItem", dict(_GET), _policy())
        await call(FakeTransport({}), "GetItem", dict(_GET), _policy())
    finally:
        set_tracer(None)
    assert [s[2] for s in spans.started] == ["p3", None]
    assert [r.partner for r in spans.ended] == ["p3", None]


def test_partner_scope_ends_with_the_invocation_when_a_lambda_handler_raises_inside_it() -> None:
    # Every invocation runs in the process's one asyncio.Runner context, so only the scope's own
    # reset keeps one invocation's partner from the next.
    seen: list[str | None] = []

    @lambda_handler
    async def handler(event: dict[str, str], context: object) -> None:
        seen.append(_observe.current_partner())
        if "partner" in event:
            with _observe.partner_scope(event["partner"]):
                raise ValueError("the handler failed while serving its partner")

    with pytest.raises(ValueError, match="serving its partner"):
        handler({"partner": "p1"}, _Context())
    handler({}, _Context())
    assert seen == [None, None]
