"""The shipped fake transports and faults (aiotheory/testing/_fakes.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from aiotheory._call import call
from aiotheory.deadlines import deadline
from aiotheory.errors import (
    AwsError,
    DeadlineExceeded,
    ExpiredToken,
    ServiceError,
    Throttled,
    TransportError,
    ValidationError,
)
from aiotheory.retries import RetryPolicy
from aiotheory.testing import (
    ExpiredTokenFault,
    FakeTransport,
    FaultTransport,
    RecordingTransport,
    ServerFault,
    Stall,
    Throttle,
    Unprocessed,
)
from aiotheory.transport.base import Transport

Payload = dict[str, Any]


def _put(i: int) -> Payload:
    return {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}}


def _write_batch(count: int, table: str = "t") -> Payload:
    return {"RequestItems": {table: [_put(i) for i in range(count)]}, "ReturnConsumedCapacity": "NONE"}


class _Store:
    """A tiny in-memory engine for batch calls: what it holds is what really reached it."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Payload]] = {}

    def __call__(self, operation: str, payload: Payload) -> Payload:
        if operation == "BatchWriteItem":
            for table, requests in payload["RequestItems"].items():
                for request in requests:
                    item = request["PutRequest"]["Item"]
                    self.items.setdefault(table, {})[item["pk"]["S"]] = item
            return {"UnprocessedItems": {}}
        assert operation == "BatchGetItem"
        responses: dict[str, list[Payload]] = {}
        for table, spec in payload["RequestItems"].items():
            got = [self.items.get(table, {}).get(key["pk"]["S"]) for key in spec["Keys"]]
            responses[table] = [item for item in got if item is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}


def _engine(store: _Store, calls: int = 20) -> FakeTransport:
    return FakeTransport(*([store] * calls))


async def test_fakes_satisfy_the_transport_protocol() -> None:
    inner = FakeTransport()
    for transport in (inner, RecordingTransport(inner), FaultTransport(inner)):
        assert isinstance(transport, Transport)


async def test_fake_replies_in_script_order_and_records_calls() -> None:
    boom = Throttled("slow down", code="ThrottlingException", operation="GetItem")
    fake = FakeTransport({"Item": {"a": {"S": "1"}}}, boom, lambda op, p: {"echo": op, "n": p["n"]})
    assert await fake.send("GetItem", {"n": 1}) == {"Item": {"a": {"S": "1"}}}
    with pytest.raises(Throttled) as info:
        await fake.send("GetItem", {"n": 2})
    assert info.value is boom
    assert await fake.send("PutItem", {"n": 3}) == {"echo": "PutItem", "n": 3}
    assert fake.operations == ["GetItem", "GetItem", "PutItem"]
    assert fake.calls[1] == ("GetItem", {"n": 2})
    assert fake.remaining == 0


async def test_fake_awaits_async_responders() -> None:
    async def responder(operation: str, payload: Payload) -> Payload:
        return {"op": operation}

    assert await FakeTransport(responder).send("Query", {}) == {"op": "Query"}


async def test_fake_raises_assertion_error_when_script_is_exhausted() -> None:
    fake = FakeTransport({})
    await fake.send("GetItem", {})
    with pytest.raises(AssertionError, match="no scripted response left for PutItem"):
        await fake.send("PutItem", {})


async def test_fake_returns_copies_so_callers_cannot_edit_the_script() -> None:
    reply: Payload = {"Item": {"a": {"S": "1"}}}
    fake = FakeTransport(reply, reply)
    (await fake.send("GetItem", {}))["Item"]["a"]["S"] = "changed"
    assert await fake.send("GetItem", {}) == {"Item": {"a": {"S": "1"}}}


async def test_fake_refuses_sends_after_close() -> None:
    fake = FakeTransport({})
    await fake.close()
    assert fake.closed
    with pytest.raises(TransportError) as info:
        await fake.send("GetItem", {})
    assert not info.value.retryable


async def test_recording_records_a_copy_as_sent_and_forwards_the_reply() -> None:
    inner = FakeTransport({"ok": 1})
    recording = RecordingTransport(inner)
    payload: Payload = {"Key": {"pk": {"S": "a"}}}
    assert await recording.send("GetItem", payload) == {"ok": 1}
    payload["Key"]["pk"]["S"] = "mutated later"
    assert recording.calls == [("GetItem", {"Key": {"pk": {"S": "a"}}})]
    assert recording.operations == ["GetItem"]
    assert inner.operations == ["GetItem"]


async def test_recording_assert_nothing_sent_fails_when_something_was_sent() -> None:
    recording = RecordingTransport(FakeTransport({}))
    recording.assert_nothing_sent()
    await recording.send("PutItem", {})
    with pytest.raises(AssertionError, match="PutItem"):
        recording.assert_nothing_sent()


async def test_recording_and_fault_close_their_inner_transport() -> None:
    inner = FakeTransport()
    await RecordingTransport(FaultTransport(inner)).close()
    assert inner.closed


async def test_throttle_raises_the_mapped_error_then_passes_through() -> None:
    inner = FakeTransport({"done": True})
    faults = FaultTransport(inner, Throttle(op="PutItem", times=2))
    for _ in range(2):
        with pytest.raises(Throttled) as info:
            await faults.send("PutItem", {})
        assert info.value.code == "ThrottlingException"
        assert info.value.status == 400
        assert info.value.operation == "PutItem"
        assert info.value.request_id
        assert info.value.retryable
    assert await faults.send("PutItem", {}) == {"done": True}
    assert inner.operations == ["PutItem"]
    assert faults.left(faults.faults[0]) == 0
    assert [op for op, _ in faults.injected] == ["PutItem", "PutItem"]


async def test_throttle_only_matches_its_operation() -> None:
    inner = FakeTransport({"get": 1})
    faults = FaultTransport(inner, Throttle(op="PutItem"))
    assert await faults.send("GetItem", {}) == {"get": 1}
    assert faults.injected == []


async def test_throttle_carries_the_code_it_was_given() -> None:
    faults = FaultTransport(FakeTransport(), Throttle(code="ProvisionedThroughputExceededException"))
    with pytest.raises(Throttled) as info:
        await faults.send("Query", {})
    assert info.value.code == "ProvisionedThroughputExceededException"


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerError"), (503, "ServiceUnavailable"), (502, "InternalFailure")]
)
async def test_server_error_maps_to_service_error(status: int, code: str) -> None:
    faults = FaultTransport(FakeTransport(), ServerFault(status))
    with pytest.raises(ServiceError) as info:
        await faults.send("GetItem", {})
    assert (info.value.status, info.value.code) == (status, code)
    assert info.value.retryable


async def test_expired_token_maps_to_expired_token_error() -> None:
    faults = FaultTransport(FakeTransport({"ok": 1}), ExpiredTokenFault(times=1))
    with pytest.raises(ExpiredToken) as info:
        await faults.send("GetItem", {})
    assert info.value.code == "ExpiredTokenException"
    assert await faults.send("GetItem", {}) == {"ok": 1}


async def test_faults_fire_in_order_one_per_send() -> None:
    inner = FakeTransport({"ok": 1})
    faults = FaultTransport(inner, ServerFault(500), Throttle())
    with pytest.raises(ServiceError):
        await faults.send("GetItem", {})
    with pytest.raises(Throttled):
        await faults.send("GetItem", {})
    assert await faults.send("GetItem", {}) == {"ok": 1}


async def test_fault_transport_is_retried_by_the_call_function() -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    inner = FakeTransport({"ok": 1})
    faults = FaultTransport(inner, Throttle(op="GetItem", times=2))
    policy = RetryPolicy(max_attempts=3, sleep=sleep, random=lambda: 1.0)
    assert await call(faults, "GetItem", {}, policy) == {"ok": 1}
    assert delays == [0.05, 0.1]
    assert inner.operations == ["GetItem"]


async def test_unprocessed_write_sends_only_kept_items_and_returns_the_rest() -> None:
    store = _Store()
    faults = FaultTransport(_engine(store), Unprocessed("BatchWriteItem", keep=0.5, seed=7))
    reply = await faults.send("BatchWriteItem", _write_batch(10))
    left = reply["UnprocessedItems"]["t"]
    assert len(store.items["t"]) == 5
    assert len(left) == 5
    sent = set(store.items["t"])
    returned = {r["PutRequest"]["Item"]["pk"]["S"] for r in left}
    assert sent.isdisjoint(returned)
    assert sent | returned == {f"k{i}" for i in range(10)}


async def test_unprocessed_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> Any:
        faults = FaultTransport(_engine(_Store()), Unprocessed(keep=0.3, seed=seed))
        return faults.send("BatchWriteItem", _write_batch(10))

    assert await run(1) == await run(1)
    assert await run(1) != await run(2)


async def test_unprocessed_write_keeps_other_request_fields_and_tables() -> None:
    inner = FakeTransport(lambda op, p: {"UnprocessedItems": {}, "seen": p})
    faults = FaultTransport(inner, Unprocessed(keep=0.5))
    payload = {
        "RequestItems": {"a": [_put(0), _put(1)], "b": [_put(2), _put(3)]},
        "ReturnConsumedCapacity": "TOTAL",
    }
    reply = await faults.send("BatchWriteItem", payload)
    seen = reply["seen"]
    assert seen["ReturnConsumedCapacity"] == "TOTAL"
    sent = sum(len(v) for v in seen["RequestItems"].values())
    returned = sum(len(v) for v in reply["UnprocessedItems"].values())
    assert (sent, returned) == (2, 2)


async def test_unprocessed_with_keep_zero_sends_nothing() -> None:
    inner = FakeTransport()
    faults = FaultTransport(inner, Unprocessed(keep=0.0))
    reply = await faults.send("BatchWriteItem", _write_batch(3))
    assert len(reply["UnprocessedItems"]["t"]) == 3
    assert inner.calls == []


async def test_unprocessed_always_sends_one_item_when_keep_is_positive() -> None:
    store = _Store()
    faults = FaultTransport(_engine(store), Unprocessed(keep=0.01))
    reply = await faults.send("BatchWriteItem", _write_batch(1))
    assert reply["UnprocessedItems"] == {}
    assert list(store.items["t"]) == ["k0"]


async def test_unprocessed_get_returns_sent_items_and_unsent_keys_with_their_spec() -> None:
    store = _Store()
    engine = _engine(store)
    await engine.send("BatchWriteItem", _write_batch(6))
    faults = FaultTransport(engine, Unprocessed("BatchGetItem", keep=0.5, times=1))
    keys = [{"pk": {"S": f"k{i}"}} for i in range(6)]
    payload = {"RequestItems": {"t": {"Keys": keys, "ConsistentRead": True}}}
    reply = await faults.send("BatchGetItem", payload)
    got = {item["pk"]["S"] for item in reply["Responses"]["t"]}
    unsent = reply["UnprocessedKeys"]["t"]
    assert unsent["ConsistentRead"] is True
    assert len(got) == 3
    assert got.isdisjoint({key["pk"]["S"] for key in unsent["Keys"]})
    # times=1: the retry of the unprocessed keys goes straight through.
    again = await faults.send("BatchGetItem", {"RequestItems": reply["UnprocessedKeys"]})
    assert len(again["Responses"]["t"]) == 3


async def test_unprocessed_refuses_a_keep_outside_zero_to_one() -> None:
    with pytest.raises(ValidationError):
        Unprocessed(keep=1.5)


async def test_stall_never_answers_so_the_deadline_ends_it() -> None:
    inner = FakeTransport({"ok": 1})
    faults = FaultTransport(inner, Stall(op="GetItem"))
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=0.01):
            await call(faults, "GetItem", {}, RetryPolicy())
    assert info.value.operation == "GetItem"
    assert inner.calls == []


async def test_stall_after_send_loses_only_the_reply() -> None:
    inner = FakeTransport({"ok": 1})
    faults = FaultTransport(inner, Stall(op="PutItem", after_send=True, times=1))
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=0.01):
            await call(faults, "PutItem", {}, RetryPolicy())
    assert info.value.outcome_unknown
    assert inner.operations == ["PutItem"]


def test_faults_are_frozen_values() -> None:
    assert Throttle(op="BatchWriteItem", times=2) == Throttle("BatchWriteItem", times=2)
    assert ServerFault() == ServerFault(503)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ServerFault().status = 500  # type: ignore[misc]  # checking the run-time guard


async def test_error_faults_run_the_shared_mapper() -> None:
    # A fault's error is an AwsError with the body AWS would send, not an ad-hoc exception.
    faults = FaultTransport(FakeTransport(), Throttle())
    with pytest.raises(AwsError) as info:
        await faults.send("GetItem", {})
    assert info.value.body["__type"].endswith("#ThrottlingException")
    assert info.value.message


def test_importing_the_kit_loads_neither_moto_nor_pytest() -> None:
    code = (
        "import sys, aiotheory.testing; "
        "print(sorted(m for m in ('moto', 'pytest', 'botocore', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
