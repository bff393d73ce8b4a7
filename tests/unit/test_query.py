"""Query and Scan without a server: payload shapes, validation before any request, paging, parallel scan."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import (
    DB,
    GSI,
    LSI,
    PK,
    SK,
    DeadlineExceeded,
    DecodeError,
    Model,
    Stored,
    Throttled,
    ValidationError,
    deadline,
)
from aiotheory.cursor import encode_cursor
from aiotheory.expr import Raw
from aiotheory.query import Page, ParallelScan, Query, Scan
from aiotheory.retries import RetryPolicy
from aiotheory.testing import FakeTransport, FaultTransport, RecordingTransport, Stall, Throttle

if TYPE_CHECKING:
    from aiotheory._types import Payload


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    status: Annotated[str, GSI("by-status", "pk")] = "pending"
    created: Annotated[str | None, GSI("by-status", "sk")] = None
    day: Annotated[int, LSI("by-day")] = 0
    note: Annotated[str | None, Stored("n")] = None
    tags: set[str] = set()


class Event(Model, table="events"):
    stream: Annotated[str, PK]
    seq: Annotated[int, SK]
    kind: Annotated[str, GSI("by-kind", "pk", projection="KEYS_ONLY")]
    region: Annotated[str, GSI("by-region", "pk", projection="INCLUDE", include=("body",))] = "eu"
    body: str
    size: int


SECRET = b"unit-test-cursor-secret"


def _item(i: int, partner: str = "p1") -> dict[str, Any]:
    return {"partner_id": {"S": partner}, "id": {"S": f"pay_{i:03d}"}, "amount": {"N": str(i)}}


def _key(i: int, partner: str = "p1") -> dict[str, Any]:
    return {"partner_id": {"S": partner}, "id": {"S": f"pay_{i:03d}"}}


def _db(*responses: object) -> tuple[DB, RecordingTransport]:
    recorder = RecordingTransport(FakeTransport(*responses))
    return DB(transport=recorder, region="us-east-1", table_prefix="dev_"), recorder


def _no_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=1)


# ------------------------------------------------------------------------------------------ payloads


async def test_query_payload_has_key_filter_projection_and_options() -> None:
    db, recorder = _db({"Items": [], "Count": 0, "ScannedCount": 0})
    query = (
        db.query(Payment)
        .key(Payment.partner_id == "p1", Payment.id.begins_with("pay_"))
        .filter(Payment.amount > 100)
        .project(Payment.id, Payment.amount)
        .descending()
        .consistent()
    )
    page = await query.page(size=25)
    assert page == Page(items=[], cursor=None, scanned=0)
    ((operation, payload),) = recorder.calls
    assert operation == "Query"
    assert payload == {
        "TableName": "dev_payments",
        "KeyConditionExpression": "#n0 = :v0 AND begins_with(#n1, :v1)",
        "FilterExpression": "#n2 > :v2",
        "ProjectionExpression": "#n1, #n2",
        "ConsistentRead": True,
        "ScanIndexForward": False,
        "Limit": 25,
        "ExpressionAttributeNames": {"#n0": "partner_id", "#n1": "id", "#n2": "amount"},
        "ExpressionAttributeValues": {":v0": {"S": "p1"}, ":v1": {"S": "pay_"}, ":v2": {"N": "100"}},
    }


async def test_query_on_index_names_it_and_validates_against_its_keys() -> None:
    db, recorder = _db({"Items": []})
    query = db.query(Payment).index("by-status").key(Payment.status == "paid", Payment.created >= "2026")
    assert [p async for p in query] == []
    payload = recorder.calls[0][1]
    assert payload["IndexName"] == "by-status"
    assert payload["KeyConditionExpression"] == "#n0 = :v0 AND #n1 >= :v1"
    assert payload["ExpressionAttributeNames"] == {"#n0": "status", "#n1": "created"}


async def test_key_and_index_are_checked_together_in_either_order() -> None:
    db, recorder = _db({"Items": []})
    with pytest.raises(ValidationError):
        db.query(Payment).key(Payment.status == "paid")  # the table's partition key is partner_id
    db.query(Payment).index("by-status").key(Payment.status == "paid")
    by_partner = db.query(Payment).key(Payment.partner_id == "p1")
    with pytest.raises(ValidationError):
        by_partner.index("by-status")  # the GSI has another partition key
    on_lsi = by_partner.index("by-day")  # an LSI shares the table's partition key
    assert [p async for p in on_lsi] == []
    assert recorder.calls[0][1]["IndexName"] == "by-day"


def test_key_refuses_what_dynamodb_refuses() -> None:
    db, recorder = _db()
    q = db.query(Payment)
    bad = [
        (Payment.amount == 5,),  # not a key attribute
        (Payment.partner_id > "p",),  # partition key needs =
        (Payment.id == "x",),  # sort key alone
        (Payment.partner_id == "p1", Payment.id > "a", Payment.id < "z"),  # two sort key tests
        (Payment.partner_id == "p1", Payment.id != "a"),  # <> is not a key operator
        (Payment.partner_id == "p1", Payment.id.is_in(["a", "b"])),  # IN neither
        ((Payment.partner_id == "p1") | (Payment.id == "x"),),  # OR neither
        (Payment.partner_id == "p1", Payment.amount > 1),  # non-key sort test
    ]
    for conditions in bad:
        with pytest.raises(ValidationError):
            q.key(*conditions)
    with pytest.raises(ValidationError):
        q.key()
    with pytest.raises(ValidationError):
        q.key("partner_id = :p")  # type: ignore[arg-type]  # strings are refused at run time
    recorder.assert_nothing_sent()


async def test_key_refuses_an_empty_partition_key_value_before_any_request() -> None:
    db, recorder = _db()
    with pytest.raises(ValidationError, match="empty partition key"):
        db.query(Payment).key(Payment.partner_id == "")
    with pytest.raises(ValidationError, match="empty partition key"):
        db.query(Payment).index("by-status").key(Payment.status == "")
    recorder.assert_nothing_sent()


def test_key_refuses_begins_with_when_the_sort_key_is_a_number() -> None:
    db, recorder = _db()
    with pytest.raises(ValidationError, match="numeric"):
        db.query(Event).key(Event.stream == "s", Event.seq.begins_with("1"))
    recorder.assert_nothing_sent()


async def test_key_accepts_between_when_the_sort_key_is_a_number() -> None:
    db, recorder = _db({"Items": []})
    await db.query(Event).key(Event.stream == "s", Event.seq.between(1, 5)).page()
    sent = recorder.calls[0][1]
    assert sent["KeyConditionExpression"] == "#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2"
    assert sent["ExpressionAttributeValues"] == {":v0": {"S": "s"}, ":v1": {"N": "1"}, ":v2": {"N": "5"}}


#: Each sort key test, its rendering with `{n}` for the name and `{v0}`, `{v1}` for its values.
SORT_TESTS: list[tuple[Any, str, list[str]]] = [
    (Payment.id == "a", "{n} = {v0}", ["a"]),
    (Payment.id < "a", "{n} < {v0}", ["a"]),
    (Payment.id <= "a", "{n} <= {v0}", ["a"]),
    (Payment.id > "a", "{n} > {v0}", ["a"]),
    (Payment.id >= "a", "{n} >= {v0}", ["a"]),
    (Payment.id.between("a", "b"), "{n} BETWEEN {v0} AND {v1}", ["a", "b"]),
    (Payment.id.begins_with("a"), "begins_with({n}, {v0})", ["a"]),
]


@pytest.mark.parametrize(("sk", "template", "values"), SORT_TESTS, ids=[t for _, t, _ in SORT_TESTS])
async def test_key_sends_the_sort_key_test_when_given_in_either_order(
    sk: Any, template: str, values: list[str]
) -> None:
    db, recorder = _db({"Items": []}, {"Items": []})
    await db.query(Payment).key(Payment.partner_id == "p1", sk).page()
    await db.query(Payment).key(sk, Payment.partner_id == "p1").page()
    pk_first, sk_first = (payload for _, payload in recorder.calls)
    after = template.format(n="#n1", **{f"v{i}": f":v{i + 1}" for i in range(len(values))})
    assert pk_first["KeyConditionExpression"] == f"#n0 = :v0 AND {after}"
    assert pk_first["ExpressionAttributeNames"] == {"#n0": "partner_id", "#n1": "id"}
    assert list(pk_first["ExpressionAttributeValues"].values()) == [{"S": v} for v in ["p1", *values]]
    before = template.format(n="#n0", **{f"v{i}": f":v{i}" for i in range(len(values))})
    assert sk_first["KeyConditionExpression"] == f"{before} AND #n1 = :v{len(values)}"
    assert sk_first["ExpressionAttributeNames"] == {"#n0": "id", "#n1": "partner_id"}
    assert list(sk_first["ExpressionAttributeValues"].values()) == [{"S": v} for v in [*values, "p1"]]


def test_consistent_read_on_a_gsi_is_refused_in_either_order() -> None:
    db, recorder = _db()
    with pytest.raises(ValidationError, match="ConsistentRead"):
        db.query(Payment).index("by-status").consistent()
    with pytest.raises(ValidationError, match="ConsistentRead"):
        db.query(Payment).consistent().index("by-status")
    with pytest.raises(ValidationError, match="ConsistentRead"):
        db.scan(Payment).index("by-status").consistent()
    db.query(Payment).consistent().index("by-day")  # an LSI may be read consistently
    db.query(Payment).index("by-status").consistent(False)
    recorder.assert_nothing_sent()


def test_unknown_index_names_the_known_ones() -> None:
    db, _ = _db()
    with pytest.raises(ValidationError, match="'by-status'"):
        db.query(Payment).index("nope")


def test_filter_on_a_key_attribute_is_refused_for_queries() -> None:
    db, _ = _db()
    q = db.query(Payment).key(Payment.partner_id == "p1")
    with pytest.raises(ValidationError, match="key attribute 'id'"):
        q.filter(Payment.id > "a")
    with pytest.raises(ValidationError, match="key attribute 'partner_id'"):
        q.filter((Payment.amount > 1) | Payment.partner_id.exists())
    # On a GSI the index keys are refused and the table's keys may be filtered.
    gsi = db.query(Payment).index("by-status").key(Payment.status == "paid")
    gsi.filter(Payment.id.begins_with("pay_"))
    with pytest.raises(ValidationError, match="key attribute 'created'"):
        gsi.filter(Payment.created > "2026")
    # A scan may filter on anything.
    db.scan(Payment).filter(Payment.partner_id == "p1", Payment.id > "a")


def test_filter_and_project_refuse_bad_arguments() -> None:
    db, _ = _db()
    q = db.query(Payment)
    with pytest.raises(ValidationError):
        q.filter()
    with pytest.raises(ValidationError):
        q.filter(True)  # type: ignore[arg-type]  # a bool is not a condition
    with pytest.raises(ValidationError):
        q.project()
    with pytest.raises(ValidationError, match="top-level"):
        q.project(Payment.tags.size())  # type: ignore[arg-type]  # not an attribute
    with pytest.raises(ValidationError, match="top-level"):
        q.project(Payment.amount, Payment.note["x"])  # nested path
    with pytest.raises(ValidationError, match="not a field of Payment"):
        q.project(Event.body)


def test_filter_expression_over_dynamodb_limits_is_refused() -> None:
    db, _ = _db()
    with pytest.raises(ValidationError, match="at most 100"):
        db.scan(Payment).filter(Payment.amount.is_in(list(range(101))))
    conditions = [Payment.amount != i for i in range(400)]
    with pytest.raises(ValidationError, match="4096 bytes"):
        db.scan(Payment).filter(*conditions)


def test_gsi_projection_must_fit_what_the_index_holds() -> None:
    db, _ = _db()
    with pytest.raises(ValidationError, match="does not project body"):
        db.query(Event).index("by-kind").project(Event.seq, Event.body)
    with pytest.raises(ValidationError, match="does not project body"):
        db.query(Event).project(Event.body).index("by-kind")
    db.query(Event).index("by-region").project(Event.body, Event.region)


def test_limits_and_sizes_must_be_positive_ints() -> None:
    db, _ = _db()
    q = db.query(Payment)
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValidationError):
            q.limit(bad)  # type: ignore[arg-type]  # probing run-time checks
        with pytest.raises(ValidationError):
            q.page_size(bad)  # type: ignore[arg-type]  # probing run-time checks


def test_builders_are_immutable() -> None:
    db, _ = _db()
    base = db.query(Payment).key(Payment.partner_id == "p1")
    derived = base.filter(Payment.amount > 1).limit(3).descending().index("by-day").project(Payment.id)
    assert derived is not base
    assert repr(base) == "<Query Payment key=partner_id = ?>"
    assert repr(derived) == (
        "<Query Payment index='by-day' key=partner_id = ? descending filter=amount > ? project=id limit=3>"
    )
    with pytest.raises(AttributeError):
        base.foo = 1  # type: ignore[attr-defined]  # slotted: no stray attributes


async def test_query_without_key_is_refused_before_any_request() -> None:
    db, recorder = _db()
    q = db.query(Payment)
    with pytest.raises(ValidationError, match="key condition"):
        await q.page()
    with pytest.raises(ValidationError, match="key condition"):
        await q.first()
    with pytest.raises(ValidationError, match="key condition"):
        await q.count()
    with pytest.raises(ValidationError, match="key condition"):
        [p async for p in q]
    recorder.assert_nothing_sent()


async def test_raw_key_condition_passes_through() -> None:
    db, recorder = _db({"Items": []})
    raw = Raw("#p = :p", names={"#p": "partner_id"}, values={":p": {"S": "p1"}})
    await db.query(Payment).key(raw).page()
    assert recorder.calls[0][1]["KeyConditionExpression"] == "#p = :p"


# ------------------------------------------------------------------------------------------ paging


async def test_iteration_follows_every_page_and_decodes_models() -> None:
    db, recorder = _db(
        {"Items": [_item(1), _item(2)], "LastEvaluatedKey": _key(2)},
        {"Items": [], "LastEvaluatedKey": _key(4)},  # a page the filter emptied
        {"Items": [_item(5)]},
    )
    q = db.query(Payment).key(Payment.partner_id == "p1").filter(Payment.amount > 0).page_size(2)
    got = [p async for p in q]
    assert [p.id for p in got] == ["pay_001", "pay_002", "pay_005"]
    assert all(isinstance(p, Payment) for p in got)
    starts = [payload.get("ExclusiveStartKey") for _, payload in recorder.calls]
    assert starts == [None, _key(2), _key(4)]
    assert [payload["Limit"] for _, payload in recorder.calls] == [2, 2, 2]


async def test_aiter_returns_a_fresh_iterator_each_time() -> None:
    db, _ = _db({"Items": [_item(1)]}, {"Items": [_item(1)]})
    q = db.query(Payment).key(Payment.partner_id == "p1")
    first = aiter(q)
    second = aiter(q)
    assert first is not second
    assert [p.id async for p in first] == ["pay_001"]
    assert [p.id async for p in second] == ["pay_001"]


async def test_limit_stops_iteration_and_caps_the_request_when_unfiltered() -> None:
    db, recorder = _db(
        {"Items": [_item(1), _item(2)], "LastEvaluatedKey": _key(2)},
        {"Items": [_item(3)], "LastEvaluatedKey": _key(3)},
    )
    got = [p.id async for p in db.query(Payment).key(Payment.partner_id == "p1").limit(3).page_size(2)]
    assert got == ["pay_001", "pay_002", "pay_003"]
    assert [payload["Limit"] for _, payload in recorder.calls] == [2, 1]


async def test_limit_with_a_filter_reads_on_until_enough_match() -> None:
    db, recorder = _db(
        {"Items": [_item(1)], "LastEvaluatedKey": _key(5)},
        {"Items": [_item(6), _item(7)], "LastEvaluatedKey": _key(9)},
    )
    q = db.query(Payment).key(Payment.partner_id == "p1").filter(Payment.amount > 0).limit(2)
    assert [p.id async for p in q] == ["pay_001", "pay_006"]
    assert all("Limit" not in payload for _, payload in recorder.calls)


async def test_page_returns_items_and_a_cursor_that_continues() -> None:
    db, recorder = _db(
        {"Items": [], "LastEvaluatedKey": _key(3), "ScannedCount": 3},
        {"Items": [_item(4)], "ScannedCount": 1},
    )
    q = db.query(Payment).key(Payment.partner_id == "p1").filter(Payment.amount > 3)
    page = await q.page(size=3)
    assert page.items == [] and page.cursor is not None and page.scanned == 3  # empty, not the end
    assert page.cursor == encode_cursor(_key(3), sort="ASC")
    last = await q.page(size=3, cursor=page.cursor)
    assert [p.id for p in last.items] == ["pay_004"] and last.cursor is None
    assert recorder.calls[1][1]["ExclusiveStartKey"] == _key(3)


async def test_page_cursor_on_an_index_carries_the_index_and_order() -> None:
    start = {**_key(1), "status": {"S": "paid"}, "created": {"S": "2026"}}
    db, _ = _db({"Items": [], "LastEvaluatedKey": start})
    page = await db.query(Payment).index("by-status").key(Payment.status == "paid").descending().page(size=1)
    assert page.cursor == encode_cursor(start, index="by-status", sort="DESC")


async def test_page_refuses_a_cursor_of_another_query_before_any_request() -> None:
    db, recorder = _db()
    q = db.query(Payment).key(Payment.partner_id == "p1")
    table_cursor = encode_cursor(_key(1), sort="ASC")
    with pytest.raises(ValidationError, match="another partition"):
        await q.key(Payment.partner_id == "p2").page(cursor=table_cursor)
    with pytest.raises(ValidationError, match="DESC"):
        await q.page(cursor=encode_cursor(_key(1), sort="DESC"))
    with pytest.raises(ValidationError, match="the table, not index 'by-day'"):
        await q.index("by-day").page(cursor=table_cursor)
    with pytest.raises(ValidationError, match="keys are"):
        await q.page(cursor=encode_cursor({"partner_id": {"S": "p1"}}, sort="ASC"))
    with pytest.raises(ValidationError, match="not signed"):
        await q.signed(SECRET).page(cursor=table_cursor)
    with pytest.raises(ValidationError):
        await q.page(cursor="garbage!")
    with pytest.raises(ValidationError):
        await q.page(size=0)
    recorder.assert_nothing_sent()


async def test_signed_query_signs_its_cursors_and_accepts_them_back() -> None:
    db, _ = _db({"Items": [], "LastEvaluatedKey": _key(1)}, {"Items": []})
    q = db.query(Payment).key(Payment.partner_id == "p1").signed(SECRET)
    page = await q.page(size=1)
    assert page.cursor == encode_cursor(_key(1), secret=SECRET, table="dev_payments", operation="Query")
    assert "." in page.cursor
    assert (await q.page(size=1, cursor=page.cursor)).cursor is None
    with pytest.raises(ValidationError, match="signature"):
        await q.signed(b"another-secret-16bytes").page(cursor=page.cursor)
    with pytest.raises(ValidationError, match="at least 16"):
        q.signed("short")


async def test_page_refuses_a_signed_cursor_when_made_for_another_table_prefix_or_a_scan() -> None:
    db, recorder = _db({"Items": [], "LastEvaluatedKey": _key(1)})
    q = db.query(Payment).key(Payment.partner_id == "p1").signed(SECRET)
    cursor = (await q.page(size=1)).cursor
    assert cursor is not None
    other_prefix = DB(transport=recorder, region="us-east-1", table_prefix="prod_")
    with pytest.raises(ValidationError, match="signature"):
        await other_prefix.query(Payment).key(Payment.partner_id == "p1").signed(SECRET).page(cursor=cursor)
    with pytest.raises(ValidationError, match="signature"):
        await db.scan(Payment).signed(SECRET).page(cursor=cursor)
    assert len(recorder.calls) == 1  # only the first page was sent


async def test_page_refuses_an_unsigned_cursor_when_its_keys_are_another_tables() -> None:
    db, recorder = _db()
    event_cursor = encode_cursor({"stream": {"S": "s"}, "seq": {"N": "1"}})
    with pytest.raises(ValidationError, match="keys are"):
        await db.scan(Payment).page(cursor=event_cursor)
    with pytest.raises(ValidationError, match="keys are"):
        await db.query(Payment).key(Payment.partner_id == "p1").page(cursor=event_cursor)
    recorder.assert_nothing_sent()


async def test_first_returns_the_first_match_or_none() -> None:
    db, recorder = _db(
        {"Items": [_item(7)], "LastEvaluatedKey": _key(7)},
        {"Items": [], "LastEvaluatedKey": _key(9)},
        {"Items": []},
    )
    q = db.query(Payment).key(Payment.partner_id == "p1")
    got = await q.first()
    assert got is not None and got.id == "pay_007"
    assert recorder.calls[0][1]["Limit"] == 1
    assert await q.filter(Payment.amount > 100).first() is None
    assert "Limit" not in recorder.calls[1][1]  # with a filter, a page of 1 would rarely hold the match
    assert recorder.calls[2][1]["ExclusiveStartKey"] == _key(9)


async def test_count_sums_every_page_with_select_count() -> None:
    db, recorder = _db({"Count": 2, "LastEvaluatedKey": _key(5)}, {"Count": 3})
    q = db.query(Payment).key(Payment.partner_id == "p1").filter(Payment.amount > 1).project(Payment.id)
    assert await q.count() == 5
    first = recorder.calls[0][1]
    assert first["Select"] == "COUNT"
    assert "ProjectionExpression" not in first
    assert set(first["ExpressionAttributeNames"].values()) == {"partner_id", "amount"}  # none unused


async def test_count_stops_at_the_limit() -> None:
    db, recorder = _db({"Count": 4, "LastEvaluatedKey": _key(5)})
    assert await db.scan(Payment).filter(Payment.amount > 1).limit(3).count() == 3
    assert len(recorder.calls) == 1


# ------------------------------------------------------------------------------------------ decoding


async def test_projection_decodes_partial_models_without_failing_on_required_fields() -> None:
    db, _ = _db({"Items": [{"id": {"S": "pay_1"}, "n": {"S": "hi"}}]})
    (p,) = [
        p async for p in db.query(Payment).key(Payment.partner_id == "p1").project(Payment.id, Payment.note)
    ]
    assert isinstance(p, Payment)
    assert (p.id, p.note) == ("pay_1", "hi")
    assert p.model_fields_set == {"id", "note"}
    assert p.model_dump() == {"id": "pay_1", "note": "hi"}
    with pytest.raises(AttributeError):
        _ = p.amount  # required and not projected: absent, not invented


async def test_projection_fills_projected_fields_the_item_lacks() -> None:
    db, _ = _db({"Items": [{"id": {"S": "pay_1"}}]})
    (p,) = [p async for p in db.scan(Payment).project(Payment.id, Payment.note, Payment.tags)]
    assert (p.note, p.tags) == (None, set())
    assert p.model_fields_set == {"id"}


async def test_keys_only_index_returns_partial_models_of_its_keys() -> None:
    db, recorder = _db({"Items": [{"stream": {"S": "s"}, "seq": {"N": "3"}, "kind": {"S": "k"}}]})
    (e,) = [e async for e in db.query(Event).index("by-kind").key(Event.kind == "k")]
    assert (e.stream, e.seq, e.kind) == ("s", 3, "k")
    assert "ProjectionExpression" not in recorder.calls[0][1]
    with pytest.raises(AttributeError):
        _ = e.body


async def test_partial_decode_names_the_field_that_does_not_fit() -> None:
    db, _ = _db({"Items": [{"partner_id": {"S": "p1"}, "id": {"S": "x"}, "amount": {"S": "lots"}}]})
    with pytest.raises(DecodeError, match="amount"):
        [p async for p in db.scan(Payment).project(Payment.id, Payment.amount)]


# ------------------------------------------------------------------------------------------ scans


async def test_scan_payload_with_segment_and_index() -> None:
    db, recorder = _db({"Items": [_item(1)]})
    got = [p async for p in db.scan(Payment).index("by-day").segment(2, 4).filter(Payment.amount >= 1)]
    assert [p.id for p in got] == ["pay_001"]
    assert recorder.calls[0] == (
        "Scan",
        {
            "TableName": "dev_payments",
            "IndexName": "by-day",
            "FilterExpression": "#n0 >= :v0",
            "Segment": 2,
            "TotalSegments": 4,
            "ExpressionAttributeNames": {"#n0": "amount"},
            "ExpressionAttributeValues": {":v0": {"N": "1"}},
        },
    )


def test_segment_and_parallel_arguments_are_checked() -> None:
    db, _ = _db()
    s = db.scan(Payment)
    for segment, total in ((4, 4), (-1, 4), (0, 0), (0, 1_000_001), (True, 2)):
        with pytest.raises(ValidationError):
            s.segment(segment, total)
    with pytest.raises(ValidationError):
        s.parallel(0)
    with pytest.raises(ValidationError):
        s.parallel(4, concurrency=0)
    with pytest.raises(ValidationError, match="segment"):
        s.segment(0, 2).parallel(2)


async def _drain(
    scan: ParallelScan[Payment],
    into: list[Payment] | None = None,
    *,
    seconds: float = 5.0,
    fail: Exception | None = None,
) -> None:
    """Consume a parallel scan under a deadline, keeping what arrived in `into`; raise `fail` at the first."""
    async with deadline(seconds=seconds), scan as items:
        async for item in items:
            if fail is not None:
                raise fail
            if into is not None:
                into.append(item)


def _segmented(pages: int, per_page: int) -> Any:
    """A transport function serving `pages` pages of `per_page` items for each segment of a scan."""

    def answer(operation: str, payload: Payload) -> Payload:
        assert operation == "Scan"
        segment = payload["Segment"]
        start = payload.get("ExclusiveStartKey")
        page = 0 if start is None else int(start["id"]["S"].split("_")[1]) + 1
        items = [
            {"partner_id": {"S": f"s{segment}"}, "id": {"S": f"pay_{page}_{i}"}, "amount": {"N": str(i)}}
            for i in range(per_page)
        ]
        reply: Payload = {"Items": items}
        if page + 1 < pages:
            reply["LastEvaluatedKey"] = {"partner_id": {"S": f"s{segment}"}, "id": {"S": f"pay_{page}"}}
        return reply

    return answer


async def test_parallel_scan_streams_every_segment_exactly_once() -> None:
    answer = _segmented(pages=3, per_page=4)
    fake = FakeTransport(*([answer] * 12))
    db = DB(transport=fake, region="us-east-1")
    async with db.scan(Payment).parallel(4, concurrency=2) as items:
        got = [(p.partner_id, p.id) async for p in items]
    assert len(got) == 48 == len(set(got))
    assert sorted({payload["TotalSegments"] for _, payload in fake.calls}) == [4]
    assert sorted({payload["Segment"] for _, payload in fake.calls}) == [0, 1, 2, 3]


async def test_parallel_scan_keeps_at_most_concurrency_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def answer(operation: str, payload: Payload) -> Payload:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)  # yield to the loop so other segments can start, if allowed
        in_flight -= 1
        return {"Items": [_item(payload["Segment"])]}

    db = DB(transport=FakeTransport(*([answer] * 8)), region="us-east-1")
    async with db.scan(Payment).parallel(8, concurrency=3) as items:
        got = [p.id async for p in items]
    assert len(got) == 8
    assert peak == 3


async def test_parallel_scan_limit_stops_and_cancels_the_rest() -> None:
    answer = _segmented(pages=100, per_page=5)
    fake = FakeTransport(*([answer] * 400))
    db = DB(transport=fake, region="us-east-1")
    async with db.scan(Payment).limit(7).parallel(4, concurrency=2) as items:
        got = [p async for p in items]
    assert len(got) == 7
    assert len(fake.calls) < 20  # the bounded buffer stopped the segments long before 400 pages


async def test_parallel_scan_error_in_one_segment_cancels_all_and_raises_it() -> None:
    answer = _segmented(pages=50, per_page=2)
    inner = FakeTransport(*([answer] * 200))
    faulty = FaultTransport(inner, Throttle("Scan", times=1))
    db = DB(transport=faulty, region="us-east-1", retry=_no_retry())
    with pytest.raises(Throttled):
        await _drain(db.scan(Payment).parallel(4, concurrency=4))
    assert len(inner.calls) < 200


async def test_parallel_scan_deadline_cancels_stalled_segments() -> None:
    inner = FakeTransport(*([{"Items": [_item(1)]}] * 4))
    stalled = FaultTransport(inner, Stall("Scan", times=1))
    db = DB(transport=stalled, region="us-east-1", retry=_no_retry())
    seen: list[Payment] = []
    with pytest.raises(DeadlineExceeded):
        await _drain(db.scan(Payment).parallel(4), seen, seconds=0.2)
    # Three segments delivered, but the stream never ended: a stalled segment cannot pass for the end.
    assert len(seen) == 3


async def test_parallel_scan_break_in_the_body_cancels_the_segments() -> None:
    answer = _segmented(pages=100, per_page=5)
    fake = FakeTransport(*([answer] * 400))
    db = DB(transport=fake, region="us-east-1")
    async with db.scan(Payment).parallel(2) as items:
        async for _ in items:
            break
    assert len(fake.calls) < 10


async def test_parallel_scan_body_error_propagates_unchanged() -> None:
    answer = _segmented(pages=100, per_page=5)
    db = DB(transport=FakeTransport(*([answer] * 400)), region="us-east-1")
    with pytest.raises(KeyError, match="mine"):
        await _drain(db.scan(Payment).parallel(2), fail=KeyError("mine"))


async def test_parallel_scan_of_an_empty_table_ends_at_once() -> None:
    db, recorder = _db({"Items": []}, {"Items": []})
    async with db.scan(Payment).parallel(2) as items:
        assert [p async for p in items] == []
    assert sorted(payload["Segment"] for _, payload in recorder.calls) == [0, 1]


def test_public_classes_are_generic_over_the_model() -> None:
    db, _ = _db()
    q: Query[Payment] = db.query(Payment)
    s: Scan[Payment] = db.scan(Payment)
    assert isinstance(q, Query) and isinstance(s, Scan)
