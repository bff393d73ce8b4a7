"""Single-table design without a server: key templates, the table registry's conflict rules, the
discriminator on every write, collection decoding, and the FastAPI schema of a collection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import pytest

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    Collection,
    F,
    KeyTemplateMismatch,
    Model,
    Template,
    UnknownEntity,
    ValidationError,
    template_of,
)
from aiotheory._tables import create_table_payload
from aiotheory.model import schema_of
from aiotheory.testing import FakeTransport, RecordingTransport


class Account(Model, table="ent_accounts", entity="account"):
    pk: Annotated[str, PK, Template("ACCOUNT#{account_id}")] = ""
    sk: Annotated[str, SK, Template("META#{account_id}")] = ""
    account_id: str
    name: str


class Invoice(Model, table="ent_accounts", entity="invoice"):
    pk: Annotated[str, PK, Template("ACCOUNT#{account_id}")] = ""
    sk: Annotated[str, SK, Template("INVOICE#{issued:%Y%m%d}#{number:05d}")] = ""
    account_id: str
    issued: dt.datetime
    number: int
    amount: int
    status: Annotated[str | None, GSI("by-status", "pk")] = None
    by_status: Annotated[str, GSI("by-status", "sk"), Template("{account_id}#{number:05d}")] = ""


class Lonely(Model, table="ent_lonely"):
    pk: Annotated[str, PK]
    n: int = 0


_DAY = dt.datetime(2026, 2, 3, 9, 30, tzinfo=dt.UTC)


def _invoice(**kw: Any) -> Invoice:
    return Invoice(**{"account_id": "a1", "issued": _DAY, "number": 7, "amount": 100, **kw})


def _db(*responses: object) -> tuple[DB, RecordingTransport]:
    recorder = RecordingTransport(FakeTransport(*responses))
    return DB(transport=recorder, region="us-east-1"), recorder


# ------------------------------------------------------------------------------------------ templates


def test_template_renders_and_parses_when_components_are_given() -> None:
    t = Template("ORDER#{day:%Y%m%d}#{n:03d}")

    assert t.fields == ("day", "n")
    assert t.render(day=_DAY, n=4) == "ORDER#20260203#004"
    assert t.prefix() == "ORDER#"
    assert t.prefix(day=_DAY) == "ORDER#20260203#"
    assert t.parse("ORDER#20260203#004") == {"day": "20260203", "n": "004"}


@pytest.mark.parametrize(
    ("pattern", "error"),
    [("", "non-empty"), ("CONST", "names no field"), ("{a}{a}", "appears twice"), ("{a!r}", "must name")],
)
def test_template_raises_when_pattern_is_not_usable(pattern: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Template(pattern)


def test_template_parse_raises_key_template_mismatch_when_shape_differs() -> None:
    with pytest.raises(KeyTemplateMismatch) as caught:
        Template("USER#{id}").parse("ORDER#1")
    assert caught.value.template == "USER#{id}"
    with pytest.raises(ValidationError, match="no value for id"):
        Template("USER#{id}").render()


def test_encode_writes_rendered_keys_and_discriminator_when_table_is_shared() -> None:
    item = schema_of(Invoice).encode(_invoice(status="open"))

    assert item["pk"] == {"S": "ACCOUNT#a1"}
    assert item["sk"] == {"S": "INVOICE#20260203#00007"}
    assert item["by_status"] == {"S": "a1#00007"}
    assert item["_type"] == {"S": "invoice"}
    assert item["number"] == {"N": "7"}  # components are stored as their own attributes too


def test_encode_leaves_sparse_index_key_out_when_a_component_is_none() -> None:
    class Ticket(Model, table="ent_tickets"):
        pk: Annotated[str, PK]
        queue: str | None = None
        q_key: Annotated[str, GSI("by-queue", "pk"), Template("QUEUE#{queue}")] = ""

    assert "q_key" not in schema_of(Ticket).encode(Ticket(pk="t1"))
    assert schema_of(Ticket).encode(Ticket(pk="t1", queue="x"))["q_key"] == {"S": "QUEUE#x"}


def test_encode_writes_no_discriminator_when_model_is_alone_in_its_table() -> None:
    assert schema_of(Lonely).encode(Lonely(pk="x")) == {"pk": {"S": "x"}, "n": {"N": "0"}}
    assert schema_of(Lonely).discriminator is None


def test_key_of_renders_template_keys_when_key_fields_are_empty() -> None:
    assert schema_of(Invoice).key_of(_invoice()) == {
        "pk": {"S": "ACCOUNT#a1"},
        "sk": {"S": "INVOICE#20260203#00007"},
    }


def test_decode_parses_components_from_key_when_item_lacks_them() -> None:
    item = {"pk": {"S": "ACCOUNT#a1"}, "sk": {"S": "INVOICE#20260203#00007"}, "amount": {"N": "1"}}

    got = schema_of(Invoice).decode(item)

    assert (got.account_id, got.number, got.issued) == ("a1", 7, dt.datetime(2026, 2, 3, tzinfo=dt.UTC))


@pytest.mark.parametrize("sk", ["INVOICE#2026-02-03#00007", "INVOICE#20260203#7", "BILL#20260203#00007"])
def test_decode_raises_key_template_mismatch_when_key_does_not_render_back(sk: str) -> None:
    item = {"pk": {"S": "ACCOUNT#a1"}, "sk": {"S": sk}, "amount": {"N": "1"}}

    with pytest.raises(KeyTemplateMismatch) as caught:
        schema_of(Invoice).decode(item)
    assert caught.value.table == "ent_accounts" and caught.value.field == "sk"


def test_template_of_returns_template_when_key_field_has_one() -> None:
    assert template_of(Invoice, "sk").prefix(issued=_DAY) == "INVOICE#20260203#"
    with pytest.raises(ValidationError, match="has no Template"):
        template_of(Invoice, "amount")


@pytest.mark.parametrize(
    ("annotations", "error"),
    [
        ({"pk": Annotated[str, PK], "x": Annotated[str, Template("{pk}")]}, "belongs on a key field"),
        ({"pk": Annotated[str, PK, Template("A#{nope}")]}, "no stored field"),
        ({"pk": Annotated[int, PK, Template("A#{b}")], "b": str}, "must be a str"),
        ({"pk": Annotated[str, PK, Template("A#{b}")], "b": list[str]}, "must be a str, number"),
    ],
)
def test_class_creation_raises_when_template_is_misplaced(annotations: dict[str, Any], error: str) -> None:
    namespace = {"__annotations__": annotations, "__module__": __name__}
    with pytest.raises(ValidationError, match=error):
        type(Model)("Templated", (Model,), namespace, table="ent_templated")


# ------------------------------------------------------------------------------------------ registry


def test_class_creation_raises_naming_both_classes_when_key_schemas_conflict() -> None:
    with pytest.raises(
        ValidationError, match=r"Clash and Account both declare table 'ent_accounts'.*sort key"
    ):

        class Clash(Model, table="ent_accounts"):
            pk: Annotated[str, PK]
            sk: Annotated[int, SK]


def test_class_creation_raises_naming_both_classes_when_index_definitions_conflict() -> None:
    with pytest.raises(ValidationError, match=r"Clash and Invoice .* index 'by-status'"):

        class Clash(Model, table="ent_accounts"):
            pk: Annotated[str, PK]
            sk: Annotated[str, SK]
            status: Annotated[str, GSI("by-status", "pk", projection="KEYS_ONLY")] = ""


def test_class_creation_replaces_entry_when_same_class_is_defined_again() -> None:
    def define(sk_type: type) -> type[Model]:
        annotations = {"pk": Annotated[str, PK], "sk": Annotated[sk_type, SK]}  # type: ignore[valid-type]
        namespace = {"__annotations__": annotations, "__module__": __name__, "__qualname__": "Again"}
        return type(Model)("Again", (Model,), namespace, table="ent_again")  # type: ignore[no-any-return]

    define(str)
    again = define(int)  # the same module + qualname: a redefinition, not a second model

    assert schema_of(again).sk is not None and schema_of(again).sk.type == "N"
    assert schema_of(again).discriminator is None


def test_create_table_takes_every_models_indexes_when_table_is_shared() -> None:
    payload = create_table_payload("ent_accounts", schema_of(Account), None, "PAY_PER_REQUEST", (1, 1))

    assert [ix["IndexName"] for ix in payload["GlobalSecondaryIndexes"]] == ["by-status"]


# ------------------------------------------------------------------------------------------ collections


def _item(model_item: Model) -> dict[str, Any]:
    return schema_of(type(model_item)).encode(model_item)


async def test_query_decodes_each_item_by_discriminator_when_union_is_queried() -> None:
    account = Account(account_id="a1", name="Acme")
    other = {"pk": {"S": "ACCOUNT#a1"}, "sk": {"S": "NOTE#1"}, "_type": {"S": "note"}}
    db, recorder = _db({"Items": [_item(account), other, _item(_invoice())], "Count": 3, "ScannedCount": 3})

    page = await db.query(Account | Invoice).key(F(Account.pk) == "ACCOUNT#a1").page()

    assert [type(x) for x in page.items] == [Account, Invoice]
    assert page.items[1].sk == "INVOICE#20260203#00007"
    assert page.skipped == 1
    assert recorder.calls[0][1]["KeyConditionExpression"] == "#n0 = :v0"


async def test_query_raises_unknown_entity_when_collection_says_raise() -> None:
    untyped = {"pk": {"S": "ACCOUNT#a1"}, "sk": {"S": "X"}}
    db, _ = _db({"Items": [untyped], "Count": 1, "ScannedCount": 1})
    query = db.query(Collection(Account, Invoice, unknown="raise")).key(F(Account.pk) == "ACCOUNT#a1")

    with pytest.raises(UnknownEntity) as caught:
        await query.page()
    assert caught.value.entity is None


async def test_iteration_and_first_skip_items_of_no_member_when_collection_reads() -> None:
    other = {"pk": {"S": "ACCOUNT#a1"}, "sk": {"S": "NOTE#1"}, "_type": {"S": "note"}}
    reply = {"Items": [other, _item(_invoice())], "Count": 2, "ScannedCount": 2}
    db, _ = _db(reply, reply)
    query = db.query(Collection(Invoice)).key(F(Invoice.pk) == "ACCOUNT#a1")

    assert [x.number async for x in query] == [7]
    first = await query.first()
    assert first is not None and first.number == 7


def test_collection_raises_when_models_live_in_different_tables() -> None:
    with pytest.raises(ValidationError, match="a collection reads one table"):
        Collection(Account, Lonely)
    with pytest.raises(ValidationError, match="unknown="):
        Collection(Account, unknown="ignore")  # type: ignore[arg-type]  # the error under test


def test_collection_query_refuses_projection_and_count_when_asked() -> None:
    db, _ = _db()
    query = db.query(Account | Invoice).key(F(Account.pk) == "ACCOUNT#a1")

    with pytest.raises(ValidationError, match="cannot project"):
        query.project(Account.name)
    assert db.query(Account | Invoice).index("by-status")  # only Invoice declares it: the table has it
    assert "Collection(Account, Invoice)" in repr(query)


async def test_fastapi_openapi_lists_each_member_when_collection_is_the_response_model() -> None:
    fastapi = pytest.importorskip("fastapi")
    import httpx

    app = fastapi.FastAPI()
    page_type = Collection(Account, Invoice).response_type()

    @app.get("/accounts/{account_id}", response_model=page_type)
    async def read(account_id: str) -> Any:
        return [Account(account_id=account_id, name="Acme"), _invoice(account_id=account_id)]

    schema = app.openapi()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        body = (await client.get("/accounts/a1")).json()

    one_of = schema["paths"]["/accounts/{account_id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["items"]["oneOf"]
    assert sorted(ref["$ref"].rsplit("/", 1)[1] for ref in one_of) == ["Account", "Invoice"]
    assert body[0]["name"] == "Acme" and body[1]["number"] == 7


def test_load_models_keeps_one_model_per_table_when_models_share_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiotheory._cli import load_models

    # The examples are not installed (CI tests an installed copy): import them from the checkout.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    from examples.single_table.models import Customer

    assert load_models(["examples.single_table.models"]) == [Customer]


def test_collection_of_accepts_both_union_spellings_when_given_models() -> None:
    from typing import Union

    assert Collection.of(Account | Invoice).models == (Account, Invoice)
    assert Collection.of(Union[Account, Invoice]).models == (Account, Invoice)  # noqa: UP007  # the old spelling
    with pytest.raises(ValidationError, match="union of models"):
        Collection.of(Account)


def test_versions_of_one_entity_differ_in_keys_without_tagging_when_they_share_entity() -> None:
    class TaskV1(Model, table="ent_tasks", entity="task"):
        owner: Annotated[str, PK]
        task_id: Annotated[str, SK]
        status: Annotated[str, GSI("by-status", "pk")] = "open"

    class TaskV2(Model, table="ent_tasks", entity="task"):
        owner: Annotated[str, PK]
        task_id: Annotated[int, SK]

    assert [ix.name for ix in schema_of(TaskV1).table_indexes()] == ["by-status"]
    assert schema_of(TaskV2).table_indexes() == ()  # an older version's index is not merged in
    assert "_type" not in schema_of(TaskV2).encode(TaskV2(owner="o", task_id=1))


def test_encode_writes_discriminator_when_lone_model_opts_in() -> None:
    class Solo(Model, table="ent_solo", discriminator="kind", entity="solo"):
        pk: Annotated[str, PK]

    assert schema_of(Solo).encode(Solo(pk="x")) == {"pk": {"S": "x"}, "kind": {"S": "solo"}}


class TtUser(Model, table="ent_tt_shared", item_format="tabletheory"):
    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    name: str


class TtOrder(Model, table="ent_tt_shared", item_format="tabletheory"):
    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    total: int


def test_encode_writes_no_discriminator_when_tabletheory_models_share_a_table() -> None:
    # A TableTheory service writes this table too, and its items carry no `_type`: declaring two
    # TableTheory-format models (as a DMS document of a single-table design does) must not add one.
    assert schema_of(TtUser).discriminator is None
    assert "_type" not in schema_of(TtOrder).encode(TtOrder(pk="U#1", sk="O#1", total=5))
    with pytest.raises(ValidationError, match="carry no discriminator"):
        Collection(TtUser, TtOrder)


def test_collection_reads_tabletheory_models_when_they_opt_into_a_discriminator() -> None:
    class TtNote(
        Model, table="ent_tt_tagged", item_format="tabletheory", entity="NOTE", discriminator="type"
    ):
        pk: Annotated[str, PK]
        sk: Annotated[str, SK]
        text: str

    class TtTask(
        Model, table="ent_tt_tagged", item_format="tabletheory", entity="TASK", discriminator="type"
    ):
        pk: Annotated[str, PK]
        sk: Annotated[str, SK]
        done: bool = False

    assert schema_of(TtTask).encode(TtTask(pk="P", sk="T#1"))["type"] == {"S": "TASK"}
    assert Collection(TtNote, TtTask).discriminator == "type"
