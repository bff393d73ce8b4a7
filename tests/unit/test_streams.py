"""Stream records without a server: routing, view types, key decoding, partial batch responses."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

import pytest

from aiotheory import PK, SK, DecodeError, Model, ValidationError
from aiotheory.streams import StreamRecord, StreamRouter, process


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    status: str = "pending"


class Event(Model, table="events"):
    stream: Annotated[str, PK]
    at: Annotated[dt.datetime, SK]
    body: str = ""


ACCOUNT = "123456789012"


def _arn(table: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}/stream/2026-01-02T03:04:05.678"


def _image(partner: str, id_: str, amount: int | str, status: str = "pending") -> dict[str, Any]:
    return {
        "partner_id": {"S": partner},
        "id": {"S": id_},
        "amount": {"N": str(amount)},
        "status": {"S": status},
    }


def _record(
    seq: int,
    name: str = "INSERT",
    *,
    table: str = "payments",
    view: str = "NEW_AND_OLD_IMAGES",
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    keys: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": 1767323045,
        "Keys": keys if keys is not None else {"partner_id": {"S": "p1"}, "id": {"S": f"pay_{seq}"}},
        "SequenceNumber": f"{seq:021d}",
        "SizeBytes": 59,
        "StreamViewType": view,
    }
    if new is not None:
        body["NewImage"] = new
    if old is not None:
        body["OldImage"] = old
    return {
        "eventID": f"e{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": body,
        "eventSourceARN": _arn(table),
        **extra,
    }


def _event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


ROUTER = StreamRouter(Payment, Event, table_prefix="")
PAYMENTS = StreamRouter(Payment, table_prefix="")


def test_record_decodes_images_and_metadata_when_new_and_old() -> None:
    raw = _record(7, "MODIFY", new=_image("p1", "pay_7", 12, "paid"), old=_image("p1", "pay_7", 12))
    rec = ROUTER.record(raw)
    assert rec.event_name == "MODIFY"
    assert rec.model is Payment
    assert rec.table == "payments"
    assert rec.keys == {"partner_id": "p1", "id": "pay_7"}
    assert rec.key == ("p1", "pay_7")
    assert rec.new == Payment(partner_id="p1", id="pay_7", amount=12, status="paid")
    assert rec.old == Payment(partner_id="p1", id="pay_7", amount=12)
    assert rec.sequence_number == "000000000000000000007"
    assert rec.view_type == "NEW_AND_OLD_IMAGES"
    assert rec.event_id == "e7"
    assert rec.approximate_creation_time == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert rec.size_bytes == 59
    assert rec.region == "us-east-1"
    assert rec.stream_arn == _arn("payments")
    assert rec.by_ttl is False


@pytest.mark.parametrize(
    ("view", "name", "has_new", "has_old"),
    [
        ("KEYS_ONLY", "MODIFY", False, False),
        ("NEW_IMAGE", "INSERT", True, False),
        ("NEW_IMAGE", "REMOVE", False, False),
        ("OLD_IMAGE", "MODIFY", False, True),
        ("OLD_IMAGE", "INSERT", False, False),
        ("NEW_AND_OLD_IMAGES", "REMOVE", False, True),
    ],
)
def test_record_carries_what_the_view_type_sends(view: str, name: str, has_new: bool, has_old: bool) -> None:
    # The images present are what DynamoDB sends for this view type and event.
    raw = _record(
        1,
        name,
        view=view,
        new=_image("p1", "pay_1", 5) if has_new else None,
        old=_image("p1", "pay_1", 4) if has_old else None,
    )
    rec = ROUTER.record(raw)
    assert rec.view_type == view
    assert (rec.new is not None, rec.old is not None) == (has_new, has_old)
    assert rec.keys == {"partner_id": "p1", "id": "pay_1"}
    if rec.new is not None:
        assert isinstance(rec.new, Payment) and rec.new.amount == 5
    if rec.old is not None:
        assert isinstance(rec.old, Payment) and rec.old.amount == 4


def test_keys_decode_to_the_field_types() -> None:
    at = dt.datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
    keys = {"stream": {"S": "s1"}, "at": {"S": "2026-03-04T05:06:07.123456Z"}}
    rec = ROUTER.record(_record(3, "REMOVE", table="events", view="KEYS_ONLY", keys=keys))
    assert rec.model is Event
    assert rec.keys == {"stream": "s1", "at": at}
    assert rec.key == ("s1", at)


def test_router_routes_by_prefixed_table_name() -> None:
    router = StreamRouter(Payment, table_prefix="dev_")
    assert router.tables == ("dev_payments",)
    assert router.model_for("dev_payments") is Payment
    rec = router.record(_record(1, table="dev_payments", new=_image("p1", "pay_1", 1)))
    assert rec.table == "dev_payments"
    with pytest.raises(ValidationError, match="no model for table 'payments'"):
        router.record(_record(2, table="payments", new=_image("p1", "pay_2", 1)))


def test_router_reads_the_prefix_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOTHEORY_TABLE_PREFIX", "prod_")
    assert StreamRouter(Payment).tables == ("prod_payments",)


def test_router_refuses_no_models_and_two_views_of_one_entity() -> None:
    class Other(Model, table="stream_views"):
        pk: Annotated[str, PK]

    class OtherView(Model, table="stream_views", entity="Other"):
        pk: Annotated[str, PK]
        note: str = ""

    with pytest.raises(ValidationError):
        StreamRouter()
    with pytest.raises(ValidationError, match="as one entity"):
        StreamRouter(Other, OtherView)


def test_ttl_removal_is_marked() -> None:
    raw = _record(
        1,
        "REMOVE",
        old=_image("p1", "pay_1", 1),
        userIdentity={"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    )
    assert ROUTER.record(raw).by_ttl is True


def test_creation_time_accepts_botocore_datetime() -> None:
    raw = _record(1, new=_image("p1", "pay_1", 1))
    local = dt.timezone(dt.timedelta(hours=2))
    raw["dynamodb"]["ApproximateCreationDateTime"] = dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=local)
    rec = ROUTER.record(raw)
    assert rec.approximate_creation_time == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert rec.approximate_creation_time is not None
    assert rec.approximate_creation_time.tzinfo is dt.UTC


def test_repr_shows_no_item_values() -> None:
    rec = ROUTER.record(_record(1, new=_image("p1", "secret-id", 987654)))
    text = repr(rec)
    assert "secret-id" not in text and "987654" not in text
    assert "INSERT" in text and "payments" in text


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda r: r.update(eventName="UPSERT"), ValidationError, "eventName"),
        (lambda r: r["dynamodb"].update(StreamViewType="ALL"), ValidationError, "StreamViewType"),
        (lambda r: r.update(eventSourceARN="arn:aws:sqs:us-east-1:1:q"), ValidationError, "ARN"),
        (lambda r: r.pop("eventSourceARN"), ValidationError, "eventSourceARN"),
        (lambda r: r.update(eventSource="aws:kinesis"), ValidationError, "eventSource"),
        (lambda r: r["dynamodb"]["Keys"].pop("id"), DecodeError, "lacks key attribute 'id'"),
        (lambda r: r["dynamodb"]["Keys"].update(id={"N": "1"}), DecodeError, "wrong type"),
        (lambda r: r["dynamodb"]["NewImage"].pop("amount"), DecodeError, "amount"),
        (lambda r: r["dynamodb"]["NewImage"].update(amount={"S": "x"}), DecodeError, "amount"),
    ],
)
def test_record_raises_for_a_bad_record(mutate: Any, error: type[Exception], match: str) -> None:
    raw = _record(1, new=_image("p1", "pay_1", 1))
    mutate(raw)
    with pytest.raises(error, match=match):
        ROUTER.record(raw)


def test_records_decodes_in_order() -> None:
    event = _event(*(_record(i, new=_image("p1", f"pay_{i}", i)) for i in range(1, 4)))
    assert [r.sequence_number[-1] for r in ROUTER.records(event)] == ["1", "2", "3"]


# --------------------------------------------------------------------------------------- process


class _Handler:
    """Records the records it was given; raises for the ids listed in `fail`."""

    def __init__(self, *fail: str) -> None:
        self.fail = set(fail)
        self.seen: list[str] = []

    async def __call__(self, record: StreamRecord[Payment]) -> None:
        self.seen.append(str(record.keys["id"]))
        if record.keys["id"] in self.fail:
            raise RuntimeError("handler failed")


def _batch() -> dict[str, Any]:
    records = [_record(i, new=_image("p1", f"pay_{i}", i)) for i in range(1, 6)]
    records[2]["dynamodb"]["NewImage"]["amount"] = {"S": "not a number"}  # pay_3 does not decode
    return _event(*records)


async def test_process_reports_nothing_when_every_record_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIOTHEORY_TABLE_PREFIX", raising=False)  # models= builds a router from the env
    handler = _Handler()
    event = _event(*(_record(i, new=_image("p1", f"pay_{i}", i)) for i in range(1, 4)))
    assert await process(event, handler, models=[Payment]) == {"batchItemFailures": []}
    assert handler.seen == ["pay_1", "pay_2", "pay_3"]


async def test_process_stops_at_the_first_failure_when_ordered(caplog: pytest.LogCaptureFixture) -> None:
    handler = _Handler()
    with caplog.at_level(logging.ERROR, logger="aiotheory.streams"):
        reply = await process(_batch(), handler, models=StreamRouter(Payment, table_prefix=""))
    assert reply == {"batchItemFailures": [{"itemIdentifier": f"{3:021d}"}]}
    assert handler.seen == ["pay_1", "pay_2"]  # pay_4 and pay_5 come again after the checkpoint
    assert any("DecodeError" in r.getMessage() for r in caplog.records)
    assert all("not a number" not in r.getMessage() for r in caplog.records)


async def test_process_reports_each_failure_when_unordered() -> None:
    handler = _Handler("pay_5")
    reply = await PAYMENTS.process(_batch(), handler, ordered=False)
    assert reply == {"batchItemFailures": [{"itemIdentifier": f"{3:021d}"}, {"itemIdentifier": f"{5:021d}"}]}
    assert handler.seen == ["pay_1", "pay_2", "pay_4", "pay_5"]


async def test_process_reports_a_handler_failure_by_sequence_number() -> None:
    handler = _Handler("pay_2")
    event = _event(*(_record(i, new=_image("p1", f"pay_{i}", i)) for i in range(1, 4)))
    reply = await PAYMENTS.process(event, handler)
    assert reply == {"batchItemFailures": [{"itemIdentifier": f"{2:021d}"}]}
    assert handler.seen == ["pay_1", "pay_2"]


async def test_process_reports_a_record_of_an_unknown_table() -> None:
    handler = _Handler()
    event = _event(_record(1, new=_image("p1", "pay_1", 1)), _record(2, table="elsewhere"))
    reply = await PAYMENTS.process(event, handler)
    assert reply == {"batchItemFailures": [{"itemIdentifier": f"{2:021d}"}]}
    assert handler.seen == ["pay_1"]


async def test_process_lets_cancellation_through() -> None:
    import asyncio

    async def cancelled(record: StreamRecord[Payment]) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await PAYMENTS.process(_event(_record(1, new=_image("p1", "pay_1", 1))), cancelled)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": "x"},
        {"Records": [1]},
        {"Records": [{"messageId": "sqs", "body": "{}"}]},  # an SQS event
        {"Records": [{"dynamodb": {"SequenceNumber": ""}}]},
    ],
)
async def test_process_raises_before_any_handler_for_a_foreign_event(event: dict[str, Any]) -> None:
    handler = _Handler()
    good = _record(1, new=_image("p1", "pay_1", 1))
    records = event.get("Records")
    if isinstance(records, list):
        records.insert(0, good)  # nothing runs, not even the good record before the bad one
    with pytest.raises(ValidationError):
        await PAYMENTS.process(event, handler)
    assert handler.seen == []
