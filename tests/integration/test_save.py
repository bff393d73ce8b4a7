"""`db.save`: one UpdateItem of what changed, on the engine under test (moto, or DynamoDB Local).

Requests are counted at the Transport seam (`RecordingTransport` around the test DB's transport).
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import (
    DB,
    PK,
    SK,
    ConditionFailed,
    CreatedAt,
    F,
    ItemNotFound,
    KeyChanged,
    Model,
    UpdatedAt,
    Version,
)
from aiotheory.testing import RecordingTransport

if TYPE_CHECKING:
    from aiotheory.testing import MakeTable


class Account(Model, table="save_accounts"):
    owner: Annotated[str, PK]
    id: Annotated[str, SK]
    name: str
    balance: Decimal = Decimal("0")
    nickname: str | None = None
    tags: set[str] = set()
    meta: dict[str, str] = {}
    created_at: Annotated[dt.datetime | None, CreatedAt] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0


class Note(Model, table="save_notes"):
    """No Version: a save is guarded by the item still existing."""

    id: Annotated[str, PK]
    text: str
    extra: str | None = None


@pytest.fixture
async def recorded(db: DB) -> tuple[DB, RecordingTransport]:
    # Shares the test DB's transport (the test DB closes it): counts this test's requests.
    recorder = RecordingTransport(db.transport)
    return (
        DB(region=db.region, endpoint_url=db.endpoint_url, table_prefix=db.table_prefix, transport=recorder),
        recorder,
    )


async def test_save_sends_one_update_of_the_changed_fields_when_a_loaded_model_changes(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Account)
    await db.create(Account(owner="o", id="a", name="Ann", balance=Decimal("1.50"), tags={"x", "y"}))
    loaded = await db.get(Account, "o", "a")
    recorder.calls.clear()
    saved = await db.save(loaded.model_copy(update={"name": "Anna"}))
    assert recorder.operations == ["UpdateItem"]
    payload = recorder.calls[0][1]
    names = payload["ExpressionAttributeNames"]
    written = {names[p] for p in names if p in payload["UpdateExpression"]}
    assert payload["UpdateExpression"].startswith("SET ") and "REMOVE" not in payload["UpdateExpression"]
    assert written == {"name", "updated_at", "version"}  # not balance, tags, meta, created_at
    assert saved.name == "Anna" and saved.version == 1 and saved.balance == Decimal("1.5")
    assert loaded.name == "Ann" and loaded.version == 0  # the argument is never mutated
    assert await db.get(Account, "o", "a", consistent=True) == saved


async def test_save_sends_nothing_when_nothing_changed(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Account)
    # "1.50" comes back as "1.5" and the set in DynamoDB's order: neither is a change.
    written = await db.create(
        Account(owner="o", id="n", name="N", balance=Decimal("1.50"), tags={"b", "a", "c"})
    )
    loaded = await db.get(Account, "o", "n")
    recorder.calls.clear()
    assert await db.save(loaded) is loaded
    assert await db.save(loaded.model_copy(update={"name": "N"})) is not None
    assert await db.save(written) is written
    recorder.assert_nothing_sent()


async def test_save_removes_attributes_when_fields_are_cleared(db: DB, make_table: MakeTable) -> None:
    await make_table(Account)
    await db.create(Account(owner="o", id="r", name="R", nickname="Rr", tags={"t"}, meta={"k": "v"}))
    loaded = await db.get(Account, "o", "r")
    saved = await db.save(loaded.model_copy(update={"nickname": None, "tags": set(), "meta": {}}))
    assert saved.nickname is None and saved.tags == set() and saved.meta == {}
    raw = await db.raw(
        "GetItem", {"TableName": db.table_name(Account), "Key": {"owner": {"S": "o"}, "id": {"S": "r"}}}
    )
    assert "nickname" not in raw["Item"] and "tags" not in raw["Item"]
    assert raw["Item"]["meta"] == {"M": {}}  # an empty map is a value, not an absence


async def test_save_raises_condition_failed_when_a_concurrent_writer_saved_first(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Account)
    await db.create(Account(owner="o", id="c", name="C"))
    first = await db.get(Account, "o", "c")
    second = await db.get(Account, "o", "c")
    won = await db.save(first.model_copy(update={"name": "first"}))
    with pytest.raises(ConditionFailed) as caught:
        await db.save(second.model_copy(update={"balance": Decimal(5)}))
    assert caught.value.old == won
    assert await db.get(Account, "o", "c", consistent=True) == won


async def test_save_chains_when_each_result_is_saved_again(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Account)
    current = await db.create(Account(owner="o", id="chain", name="v0"))
    for n in range(1, 4):
        current = await db.save(
            current.model_copy(update={"name": f"v{n}"}).model_copy(update={"balance": n})
        )
    assert current.version == 3 and current.name == "v3" and current.balance == 3
    assert recorder.operations == ["PutItem", "UpdateItem", "UpdateItem", "UpdateItem"]
    assert await db.get(Account, "o", "chain", consistent=True) == current


async def test_save_creates_when_the_model_was_built_by_hand(db: DB, make_table: MakeTable) -> None:
    await make_table(Account)
    built = Account(owner="o", id="new", name="New")
    created = await db.save(built)
    assert created.version == 0 and created.created_at is not None
    assert await db.get(Account, "o", "new") == created
    with pytest.raises(ConditionFailed):
        await db.save(Account(owner="o", id="new", name="again"))
    # Rebuilt from its dump, a loaded model forgets what it was read as: a create again.
    with pytest.raises(ConditionFailed):
        await db.save(Account.model_validate(created.model_dump()))


async def test_save_raises_key_changed_when_a_key_field_changed(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Account)
    loaded = await db.create(Account(owner="o", id="k", name="K"))
    recorder.calls.clear()
    with pytest.raises(KeyChanged):
        await db.save(loaded.model_copy(update={"id": "k2"}))
    recorder.assert_nothing_sent()


async def test_save_raises_item_not_found_when_the_item_was_deleted(db: DB, make_table: MakeTable) -> None:
    await make_table(Note)
    loaded = await db.create(Note(id="gone", text="t", extra="e"))
    await db.delete(Note, "gone")
    with pytest.raises(ItemNotFound):
        await db.save(loaded.model_copy(update={"text": "u"}))
    assert await db.find(Note, "gone") is None


async def test_save_guards_on_existence_when_the_model_has_no_version(db: DB, make_table: MakeTable) -> None:
    await make_table(Note)
    loaded = await db.put(Note(id="n", text="t", extra="e"))
    saved = await db.save(loaded.model_copy(update={"extra": None}))
    assert saved == Note(id="n", text="t")
    assert await db.save(saved.model_copy(update={"text": "u"}, deep=True)) == Note(id="n", text="u")
    assert await db.save(saved, condition=F(Note.text) == "nope") is saved  # nothing changed, nothing sent


async def test_save_tracks_models_from_every_read_when_they_come_from_query_scan_and_batches(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Account)
    await db.batch_write(put=[Account(owner="q", id=str(i), name=f"n{i}") for i in range(3)])
    queried = await db.query(Account).key(F(Account.owner) == "q").first()
    scanned = [a async for a in db.scan(Account)][1]
    (batched,) = await db.batch_get(Account, [("q", "2")])
    (transacted,) = await db.transact_get(Account, [("q", "0")])
    assert queried is not None and batched is not None and transacted is not None
    for loaded in (queried, scanned, batched):
        saved = await db.save(loaded.model_copy(update={"name": "changed"}))
        assert saved.version == 1
    with pytest.raises(ConditionFailed):  # `queried` was item 0, saved above: this copy is stale
        await db.save(transacted.model_copy(update={"name": "stale"}))


async def test_loaded_models_compare_dump_and_copy_like_built_ones_when_tracked(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Note)
    await db.put(Note(id="eq", text="t"))
    loaded = await db.get(Note, "eq")
    built = Note(id="eq", text="t")
    assert loaded == built and built == loaded
    assert loaded.model_dump() == built.model_dump() == {"id": "eq", "text": "t", "extra": None}
    assert loaded.model_dump_json() == built.model_dump_json()
    assert dict(loaded) == dict(built) and repr(loaded) == repr(built)
    for clone in (pickle.loads(pickle.dumps(loaded)), copy.deepcopy(loaded), copy.copy(loaded)):
        assert clone == loaded
        assert (await db.save(clone.model_copy(update={"text": "u"}))).text == "u"
