"""`db.save` request shapes without a server: what is SET, what is REMOVEd, what is left alone.

Replies are scripted at the Transport seam (`FakeTransport`); the engine behaviour is in
tests/integration/test_save.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aiotheory import DB, PK, CreatedAt, Model, Version
from aiotheory.testing import FakeTransport

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class Profile(Model, table="profiles"):
    id: Annotated[str, PK]
    name: str
    city: str | None = None
    scores: list[int] = []
    version: Annotated[int, Version] = 0


STORED: dict[str, Any] = {
    "id": {"S": "u1"},
    "name": {"S": "Ann"},
    "city": {"S": "Oslo"},
    "scores": {"L": [{"N": "1"}, {"N": "2.0"}]},
    "version": {"N": "4"},
    "legacy": {"S": "written by an older model"},
}


def _db(*responses: object) -> tuple[DB, FakeTransport]:
    fake = FakeTransport({"Item": STORED}, *responses)
    return DB(transport=fake, region="us-east-1", clock=lambda: NOW), fake


def _written(payload: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The attribute names the UpdateExpression SETs and REMOVEs."""
    names = payload["ExpressionAttributeNames"]
    expression = payload["UpdateExpression"]
    set_part, _, remove_part = expression.partition(" REMOVE ")
    return (
        {names[p] for p in names if p in set_part},
        {names[p] for p in names if p in remove_part},
    )


async def test_save_leaves_unknown_attributes_alone_when_only_a_field_changed() -> None:
    db, fake = _db({"Attributes": {**STORED, "name": {"S": "Anna"}, "version": {"N": "5"}}})
    loaded = await db.get(Profile, "u1")
    saved = await db.save(loaded.model_copy(update={"name": "Anna"}))
    assert fake.operations == ["GetItem", "UpdateItem"]
    payload = fake.calls[1][1]
    assert _written(payload) == ({"name", "version"}, set())  # not legacy, not scores ("2.0" is 2)
    assert payload["ExpressionAttributeValues"][":v0"] == {"S": "Anna"}
    assert {"N": "4"} in payload["ExpressionAttributeValues"].values()  # the version read, checked
    assert saved.name == "Anna" and saved.version == 5


async def test_save_removes_a_field_when_it_is_set_to_none_in_place() -> None:
    db, fake = _db({"Attributes": {k: v for k, v in STORED.items() if k != "city"}})
    loaded = await db.get(Profile, "u1")
    loaded.city = None  # assignment on the instance: the memory stays with it
    await db.save(loaded)
    assert _written(fake.calls[1][1]) == ({"version"}, {"city"})


async def test_save_sends_a_list_whole_when_an_element_changed() -> None:
    db, fake = _db({"Attributes": STORED})
    loaded = await db.get(Profile, "u1")
    await db.save(loaded.model_copy(update={"scores": [1, 3]}))
    payload = fake.calls[1][1]
    assert _written(payload) == ({"scores", "version"}, set())
    assert {"L": [{"N": "1"}, {"N": "3"}]} in payload["ExpressionAttributeValues"].values()


async def test_put_returns_a_tracked_copy_when_the_model_has_no_stamps() -> None:
    class Note(Model, table="notes"):
        id: Annotated[str, PK]
        text: str

    fake = FakeTransport({}, {"Attributes": {"id": {"S": "n"}, "text": {"S": "u"}}})
    db = DB(transport=fake, region="us-east-1")
    given = Note(id="n", text="t")
    written = await db.put(given)
    assert written is not given and written == given
    assert "__aiotheory_stored__" not in given.__dict__  # the argument is never changed
    await db.save(written.model_copy(update={"text": "u"}))
    assert fake.operations == ["PutItem", "UpdateItem"]
    payload = fake.calls[1][1]
    guard = payload["ConditionExpression"]
    assert guard.startswith("attribute_exists(") and payload["ExpressionAttributeNames"][guard[17:-1]] == "id"


async def test_save_leaves_created_at_alone_when_the_caller_cleared_it() -> None:
    class Stamped(Model, table="stamped"):
        id: Annotated[str, PK]
        name: str
        created_at: Annotated[dt.datetime | None, CreatedAt] = None

    stored = {"id": {"S": "s"}, "name": {"S": "a"}, "created_at": {"S": "2026-01-01T00:00:00.000000Z"}}
    fake = FakeTransport({"Item": stored}, {"Attributes": {**stored, "name": {"S": "b"}}})
    db = DB(transport=fake, region="us-east-1")
    loaded = await db.get(Stamped, "s")
    await db.save(loaded.model_copy(update={"name": "b", "created_at": None}))
    assert _written(fake.calls[1][1]) == ({"name"}, set())  # a managed field is never REMOVEd by a save
