"""Scans end to end on the engine: filters, projections, segments, cursors and the parallel scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, GSI, PK, SK, DeadlineExceeded, Model, deadline
from aiotheory.testing import FaultTransport, Stall

if TYPE_CHECKING:
    from aiotheory.testing._plugin import MakeTable

COUNT = 90


class Item(Model, table="scan_items"):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    color: Annotated[str, GSI("by-color", "pk")]
    n: int
    note: str = ""


@pytest.fixture
async def items(db: DB, make_table: MakeTable) -> list[Item]:
    await make_table(Item)
    made = [
        Item(pk=f"p{i % 9}", sk=i, color=("red", "blue", "green")[i % 3], n=i, note=f"#{i}")
        for i in range(COUNT)
    ]
    await db.batch_write(put=made)
    return made


async def test_scan_reads_every_item_once_through_small_pages(db: DB, items: list[Item]) -> None:
    got = [(item.pk, item.sk) async for item in db.scan(Item).page_size(7)]
    assert sorted(got) == sorted((i.pk, i.sk) for i in items)
    assert len(got) == len(set(got))


async def test_scan_pages_with_cursors_cover_the_table_when_filters_empty_pages(
    db: DB, items: list[Item]
) -> None:
    scan = db.scan(Item).filter(Item.n >= 80)
    seen: list[int] = []
    empty = 0
    cursor: str | None = None
    while True:
        page = await scan.page(size=4, cursor=cursor)
        seen.extend(item.sk for item in page.items)
        empty += not page.items and page.cursor is not None
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sorted(seen) == list(range(80, COUNT))
    assert empty >= 1


async def test_scan_of_an_index_with_filter_and_projection(db: DB, items: list[Item]) -> None:
    scan = (
        db.scan(Item).index("by-color").filter(Item.color == "red", Item.n < 30).project(Item.sk, Item.color)
    )
    got = sorted([(item.sk, item.color) async for item in scan])
    assert got == [(i, "red") for i in range(0, 30, 3)]
    assert await db.scan(Item).filter(Item.note.begins_with("#1")).count() == 11  # 1, 10..19


async def test_segments_partition_the_table(db: DB, items: list[Item]) -> None:
    seen: list[int] = []
    for segment in range(3):
        seen.extend([item.sk async for item in db.scan(Item).segment(segment, 3)])
    assert sorted(seen) == list(range(COUNT))


@pytest.mark.parametrize(("segments", "concurrency"), [(1, 1), (4, 2), (16, 16)])
async def test_parallel_scan_streams_every_item_exactly_once(
    db: DB, items: list[Item], segments: int, concurrency: int
) -> None:
    async with db.scan(Item).page_size(10).parallel(segments, concurrency=concurrency) as stream:
        got = [item.sk async for item in stream]
    assert sorted(got) == list(range(COUNT))


async def test_parallel_scan_with_filter_and_limit(db: DB, items: list[Item]) -> None:
    async with db.scan(Item).filter(Item.color == "blue").parallel(4) as stream:
        blue = sorted([item.sk async for item in stream])
    assert blue == list(range(1, COUNT, 3))
    async with db.scan(Item).limit(5).parallel(4) as stream:
        assert len([item async for item in stream]) == 5


async def test_parallel_scan_deadline_cancels_every_segment(db: DB, items: list[Item]) -> None:
    # The same engine connection with one stalled Scan page: only the deadline can end the scan.
    stalled = DB(
        region=db.region, table_prefix=db.table_prefix, transport=FaultTransport(db.transport, Stall("Scan"))
    )
    got: list[int] = []
    with pytest.raises(DeadlineExceeded):
        async with deadline(seconds=0.5), stalled.scan(Item).parallel(3) as stream:
            got.extend([item.sk async for item in stream])
    assert got == []
