"""Queries on the engine: exactly-once pagination over tables, GSIs and LSIs, cursors, projections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import pytest

from aiotheory import DB, GSI, LSI, PK, SK, Model, ValidationError

if TYPE_CHECKING:
    from aiotheory.testing._plugin import MakeTable

PARTITION_SIZE = 60
PAGE = 5


class Row(Model, table="rows"):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    group: Annotated[str, GSI("by-group", "pk")]
    rank: Annotated[int, GSI("by-group", "sk")]  # repeats: GSI sort keys need not be unique
    slot: Annotated[int, LSI("by-slot")]  # repeats too
    keep: bool
    label: str = ""


class Thin(Model, table="thin"):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    kind: Annotated[str, GSI("by-kind", "pk", projection="KEYS_ONLY")]
    body: str


def _kept(i: int) -> bool:
    # Whole runs of 10 items fail the filter, so pages of 5 read nothing that matches.
    return (i // 10) % 2 == 0


@pytest.fixture
async def rows(db: DB, make_table: MakeTable) -> list[Row]:
    await make_table(Row)
    made = [
        # Index sort keys repeat but follow sk, so a failing run stays (nearly) contiguous in every order.
        Row(pk="p", sk=i, group="g", rank=i // 3, slot=i // 2, keep=_kept(i), label=f"row {i}")
        for i in range(PARTITION_SIZE)
    ]
    noise = [Row(pk=f"other{i % 3}", sk=i, group=f"h{i % 2}", rank=i, slot=i, keep=True) for i in range(12)]
    await db.batch_write(put=made + noise)
    return made


Target = Literal["table", "by-slot", "by-group"]


def _query(db: DB, target: Target) -> object:
    if target == "table":
        return db.query(Row).key(Row.pk == "p")
    if target == "by-slot":
        return db.query(Row).index("by-slot").key(Row.pk == "p")
    return db.query(Row).index("by-group").key(Row.group == "g")


def _sort_value(row: Row, target: Target) -> tuple[int, ...]:
    return {"table": (row.sk,), "by-slot": (row.slot,), "by-group": (row.rank,)}[target]


@pytest.mark.parametrize("target", ["table", "by-slot", "by-group"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
async def test_pages_return_every_match_exactly_once_when_filters_empty_pages(
    db: DB, rows: list[Row], target: Target, descending: bool
) -> None:
    query = _query(db, target).filter(Row.keep == True)  # type: ignore[attr-defined]  # noqa: E712
    if descending:
        query = query.descending()
    seen: list[Row] = []
    empty_pages_with_cursor = 0
    cursor: str | None = None
    for _ in range(100):
        page = await query.page(size=PAGE, cursor=cursor)
        if not page.items and page.cursor is not None:
            empty_pages_with_cursor += 1
        seen.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break
    else:
        pytest.fail("pagination did not end")
    keys = [row.sk for row in seen]
    assert len(keys) == len(set(keys)), "an item came back twice"
    assert sorted(keys) == sorted(row.sk for row in rows if row.keep)
    order = [_sort_value(row, target) for row in seen]
    assert order == sorted(order, reverse=descending)
    assert empty_pages_with_cursor >= 1  # the filter emptied whole pages, and paging went on


@pytest.mark.parametrize("target", ["table", "by-slot", "by-group"])
async def test_iteration_with_small_pages_yields_every_match_once(
    db: DB, rows: list[Row], target: Target
) -> None:
    query = _query(db, target).filter(Row.keep == False).page_size(3)  # type: ignore[attr-defined]  # noqa: E712
    got = [row.sk async for row in query]
    assert sorted(got) == sorted(row.sk for row in rows if not row.keep)
    assert len(got) == len(set(got))


async def test_limit_first_and_count_agree_with_the_data(db: DB, rows: list[Row]) -> None:
    query = db.query(Row).key(Row.pk == "p", Row.sk.between(10, 39))
    assert await query.count() == 30
    assert await query.filter(Row.keep == True).count() == 10  # noqa: E712
    assert await query.limit(7).count() == 7
    assert [row.sk async for row in query.limit(4)] == [10, 11, 12, 13]
    assert [row.sk async for row in query.descending().limit(3)] == [39, 38, 37]
    first = await query.filter(Row.keep == True).first()  # noqa: E712  # 10..19 fail the filter
    assert first is not None and first.sk == 20
    assert await query.filter(Row.label == "absent").first() is None
    assert await db.query(Row).key(Row.pk == "nobody").first() is None


async def test_sort_key_conditions_select_the_right_range(db: DB, rows: list[Row]) -> None:
    base = db.query(Row).key(Row.pk == "p")
    cases = {
        Row.sk == 5: [5],
        Row.sk < 3: [0, 1, 2],
        Row.sk <= 2: [0, 1, 2],
        Row.sk > 57: [58, 59],
        Row.sk >= 58: [58, 59],
        Row.sk.between(7, 9): [7, 8, 9],
    }
    for condition, expected in cases.items():
        got = [row.sk async for row in base.key(Row.pk == "p", condition)]
        assert got == expected, str(condition)


async def test_cursor_continues_across_builders_and_rejects_misuse(db: DB, rows: list[Row]) -> None:
    query = db.query(Row).key(Row.pk == "p")
    first = await query.page(size=10)
    assert first.cursor is not None
    # A new builder for the same query (another request of an HTTP API) continues where the first stopped.
    again = await db.query(Row).key(Row.pk == "p").page(size=10, cursor=first.cursor)
    assert [row.sk for row in again.items] == list(range(10, 20))
    with pytest.raises(ValidationError):
        await db.query(Row).key(Row.pk == "other0").page(cursor=first.cursor)
    with pytest.raises(ValidationError):
        await query.index("by-slot").page(cursor=first.cursor)
    with pytest.raises(ValidationError):
        await query.descending().page(cursor=first.cursor)
    tampered = first.cursor[:-6] + ("A" if first.cursor[-6] != "A" else "B") + first.cursor[-5:]
    with pytest.raises(ValidationError):
        await query.signed(b"sixteen-byte-key!").page(cursor=tampered)


async def test_signed_cursors_round_trip_through_the_engine(db: DB, rows: list[Row]) -> None:
    query = db.query(Row).index("by-group").key(Row.group == "g").signed("a-service-secret-value")
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await query.page(size=25, cursor=cursor)
        seen.extend(row.sk for row in page.items)
        if page.cursor is None:
            break
        assert "." in page.cursor
        cursor = page.cursor
    assert sorted(seen) == list(range(PARTITION_SIZE))


async def test_projection_returns_partial_models(db: DB, rows: list[Row]) -> None:
    got = [row async for row in db.query(Row).key(Row.pk == "p", Row.sk < 2).project(Row.sk, Row.label)]
    assert [(row.sk, row.label) for row in got] == [(0, "row 0"), (1, "row 1")]
    assert got[0].model_fields_set == {"sk", "label"}
    with pytest.raises(AttributeError):
        _ = got[0].keep


async def test_keys_only_gsi_returns_models_of_its_keys(db: DB, make_table: MakeTable) -> None:
    await make_table(Thin)
    for i in range(3):
        await db.put(Thin(pk="a", sk=i, kind="k", body="x" * 10))
    got = sorted([(t.pk, t.sk, t.kind) async for t in db.query(Thin).index("by-kind").key(Thin.kind == "k")])
    assert got == [("a", 0, "k"), ("a", 1, "k"), ("a", 2, "k")]


async def test_consistent_query_of_the_table_and_lsi(db: DB, rows: list[Row]) -> None:
    got = [row.sk async for row in db.query(Row).key(Row.pk == "p", Row.sk < 3).consistent()]
    assert got == [0, 1, 2]
    on_lsi = db.query(Row).index("by-slot").key(Row.pk == "p", Row.slot == 0).consistent()
    assert sorted([row.sk async for row in on_lsi]) == sorted(r.sk for r in rows if r.slot == 0)
