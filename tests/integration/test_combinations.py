"""Where today's features meet: save() and hooks on single-table models with key Templates and Encrypted
fields, collections and parallel scans of encrypted entities, streams of a shared table, transactions
mixing them, the TableTheory format with templates and encryption, and DMS of such models.

KMS is moto's on every engine run (see test_encryption.py); requests are counted at the Transport seam.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import pytest

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    Encrypted,
    F,
    KeyChanged,
    Model,
    Stored,
    Template,
    ValidationError,
    dms,
)
from aiotheory.model import schema_of
from aiotheory.streams import StreamRouter
from aiotheory.testing import MotoServer, RecordingTransport
from aiotheory.transport._kms import KmsTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiotheory.testing import Backend


_DOC = Template("DOC#{doc_id}")


class Doc(Model, table="combo", entity="doc"):
    """A templated table key, a templated GSI key (owner) and an Encrypted field, with hooks."""

    pk: Annotated[str, PK, _DOC] = ""
    sk: Annotated[str, SK, _DOC] = ""
    gsi1pk: Annotated[str, GSI("gsi1"), Template("OWNER#{owner}")] = ""
    doc_id: str
    owner: str
    title: str = ""
    secret: Annotated[str, Encrypted] = ""
    stamp: str = ""

    read: ClassVar[list[str]] = []

    def after_read(self) -> None:
        Doc.read.append(self.doc_id)

    def before_write(self) -> Doc | None:
        if self.title == "rewrite-me":
            return self.model_copy(update={"title": "rewritten", "secret": "from-hook"})
        return None


class Memo(Model, table="combo", entity="memo"):
    pk: Annotated[str, PK, _DOC] = ""
    sk: Annotated[str, SK, Template("MEMO#{n:03d}")] = ""
    doc_id: str
    n: int
    text: str = ""

    read: ClassVar[list[str]] = []

    def after_read(self) -> None:
        Memo.read.append(f"{self.doc_id}/{self.n}")


@pytest.fixture(scope="module")
def kms_endpoint(aiotheory_backend: Backend) -> Iterator[str]:
    if aiotheory_backend.name == "moto":
        yield aiotheory_backend.endpoint_url
        return
    server = MotoServer().start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


def _credentials(backend: Backend) -> Any:
    from aiotheory.credentials import resolve

    return resolve(backend.credentials, None)


class _Env:
    """The DB under test, what reached DynamoDB and what reached KMS."""

    def __init__(self, db: DB, wire: RecordingTransport, kms: RecordingTransport) -> None:
        self.db = db
        self.wire = wire
        self.kms = kms

    def clear(self) -> None:
        self.wire.calls.clear()
        self.kms.calls.clear()

    def decrypts(self) -> int:
        return self.kms.operations.count("Decrypt")

    async def raw(self, model: type[Model], key: dict[str, Any]) -> dict[str, Any]:
        reply = await self.db.raw("GetItem", {"TableName": self.db.table_name(model), "Key": key})
        item: dict[str, Any] = reply["Item"]
        return item


@pytest.fixture
async def env(db: DB, aiotheory_backend: Backend, kms_endpoint: str) -> AsyncIterator[_Env]:
    credentials = _credentials(aiotheory_backend)
    kms = RecordingTransport(
        KmsTransport(aiotheory_backend.region, endpoint_url=kms_endpoint, credentials=credentials)
    )
    reply = await kms.send("CreateKey", {"Description": "aiotheory combinations"})
    wire = RecordingTransport(db.transport)  # the test DB closes the inner transport
    edb = DB(
        region=db.region,
        endpoint_url=db.endpoint_url,
        credentials=aiotheory_backend.credentials,
        table_prefix=db.table_prefix,
        transport=wire,
        kms_key_id=reply["KeyMetadata"]["KeyId"],
        kms_transport=kms,
    )
    Doc.read.clear()
    Memo.read.clear()
    await edb.create_table(Doc, stream="NEW_AND_OLD_IMAGES")
    try:
        yield _Env(edb, wire, kms)
    finally:
        await edb.delete_table(Doc)
        await kms.close()


def _is_envelope(av: dict[str, Any]) -> bool:
    return set(av) == {"M"} and set(av["M"]) == {"v", "edk", "nonce", "ct"}


def _doc_key(doc_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"DOC#{doc_id}"}, "sk": {"S": f"DOC#{doc_id}"}}


async def _owned_by(db: DB, owner: str) -> list[str]:
    query = db.query(Doc).index("gsi1").key(F(Doc.gsi1pk) == f"OWNER#{owner}")
    return [d.doc_id async for d in query]


# ------------------------------------------------------------------- save x templates x discriminator


async def test_save_rerenders_the_index_key_when_a_template_component_changes(env: _Env) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", title="t"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    saved = await env.db.save(loaded.model_copy(update={"owner": "bob"}))

    assert env.wire.operations == ["UpdateItem"]
    assert saved.gsi1pk == "OWNER#bob"
    assert await _owned_by(env.db, "bob") == ["d1"]
    assert await _owned_by(env.db, "ann") == []


async def test_save_raises_key_changed_when_a_table_key_component_changes(env: _Env) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    with pytest.raises(KeyChanged):
        await env.db.save(loaded.model_copy(update={"doc_id": "d2"}))
    env.wire.assert_nothing_sent()


async def test_save_sets_the_discriminator_once_when_the_stored_item_lacks_it(env: _Env) -> None:
    item = {**_doc_key("d1"), "gsi1pk": {"S": "OWNER#ann"}, "doc_id": {"S": "d1"}, "owner": {"S": "ann"}}
    await env.db.raw("PutItem", {"TableName": env.db.table_name(Doc), "Item": item})  # written before sharing
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    await env.db.save(loaded.model_copy(update={"title": "now typed"}))

    (payload,) = [p for op, p in env.wire.calls if op == "UpdateItem"]
    names = payload["ExpressionAttributeNames"]
    typed = [n for n, stored in names.items() if stored == "_type"]
    assert len(typed) == 1 and payload["UpdateExpression"].count(typed[0]) == 1
    raw = await env.raw(Doc, _doc_key("d1"))
    assert raw["_type"] == {"S": "doc"} and raw["title"] == {"S": "now typed"}


# ------------------------------------------------------------------------------ save x Encrypted


async def test_save_sends_only_the_changed_plain_field_when_a_read_model_has_encrypted_fields(
    env: _Env,
) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="s3cret"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")
    assert loaded.__dict__["__aiotheory_stored__"]["secret"] == {"S": "s3cret"}  # remembered as plaintext

    env.clear()
    await env.db.save(loaded.model_copy(update={"title": "new"}))

    (payload,) = [p for op, p in env.wire.calls if op == "UpdateItem"]
    assert "secret" not in payload["ExpressionAttributeNames"].values()
    assert env.kms.operations == []  # nothing sealed: the secret did not change


async def test_save_sends_only_the_changed_plain_field_when_the_model_was_returned_by_put(
    env: _Env,
) -> None:
    written = await env.db.put(Doc(doc_id="d1", owner="ann", secret="s3cret"))

    env.clear()
    await env.db.save(written.model_copy(update={"title": "new"}))

    (payload,) = [p for op, p in env.wire.calls if op == "UpdateItem"]
    assert "secret" not in payload["ExpressionAttributeNames"].values()


async def test_save_seals_the_encrypted_field_when_it_changed(env: _Env) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="old"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    saved = await env.db.save(loaded.model_copy(update={"secret": "brand-new"}))

    (payload,) = [p for op, p in env.wire.calls if op == "UpdateItem"]
    assert "brand-new" not in json.dumps(payload)
    raw = await env.raw(Doc, _doc_key("d1"))
    assert _is_envelope(raw["secret"]) and "brand-new" not in json.dumps(raw)
    assert saved.secret == "brand-new"
    assert (await env.db.get(Doc, "DOC#d1", "DOC#d1")).secret == "brand-new"
    # The model save() returned remembers plaintext too: saving it unchanged sends nothing.
    env.clear()
    assert await env.db.save(saved) is saved
    env.wire.assert_nothing_sent()


async def test_save_sends_nothing_when_an_encrypted_model_is_unchanged(env: _Env) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="s"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    await env.db.save(loaded)
    await env.db.save(loaded.model_copy(update={"secret": "s"}))

    env.wire.assert_nothing_sent()
    assert env.kms.operations == []


async def test_save_seals_the_hook_rewrite_when_a_hook_sets_an_encrypted_field(env: _Env) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="before"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    saved = await env.db.save(loaded.model_copy(update={"title": "rewrite-me"}))

    (payload,) = [p for op, p in env.wire.calls if op == "UpdateItem"]
    assert "from-hook" not in json.dumps(payload) and "rewrite-me" not in json.dumps(payload)
    assert (saved.title, saved.secret) == ("rewritten", "from-hook")
    raw = await env.raw(Doc, _doc_key("d1"))
    assert _is_envelope(raw["secret"]) and raw["title"] == {"S": "rewritten"}


# ---------------------------------------------------------------- collections x Encrypted x hooks


async def _doc_with_memos(env: _Env) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="top"))
    await env.db.batch_write(put=[Memo(doc_id="d1", n=n, text=f"m{n}") for n in (1, 2)])
    Doc.read.clear()
    Memo.read.clear()
    env.db.encryption.forget()  # the data key of the put is not cached: the read must Decrypt
    env.clear()


async def test_query_decrypts_and_runs_after_read_when_a_collection_member_is_encrypted(env: _Env) -> None:
    await _doc_with_memos(env)
    query = env.db.query(Doc | Memo).key(F(Doc.pk) == "DOC#d1")

    got = [x async for x in query]

    assert [type(x).__name__ for x in got] == ["Doc", "Memo", "Memo"]
    doc = got[0]
    assert isinstance(doc, Doc) and doc.secret == "top"
    assert (Doc.read, Memo.read) == (["d1"], ["d1/1", "d1/2"])
    assert env.decrypts() == 1


async def test_page_and_first_decrypt_and_run_after_read_when_a_collection_member_is_encrypted(
    env: _Env,
) -> None:
    await _doc_with_memos(env)
    query = env.db.query(Doc | Memo).key(F(Doc.pk) == "DOC#d1")

    page = await query.page()
    first = await query.first()

    assert isinstance(page.items[0], Doc) and page.items[0].secret == "top"
    assert isinstance(first, Doc) and first.secret == "top"
    assert Doc.read == ["d1", "d1"] and Memo.read == ["d1/1", "d1/2"]
    # The edk opened by the page is not cached (no data key policy): one Decrypt per page.
    assert env.decrypts() <= 2


async def test_parallel_scan_and_batch_get_decrypt_and_run_after_read_when_models_are_encrypted(
    env: _Env,
) -> None:
    await _doc_with_memos(env)
    await env.db.put(Doc(doc_id="d2", owner="bob", secret="two"))
    Doc.read.clear()

    async with env.db.scan(Doc).filter(F(Doc.owner).exists()).parallel(2) as items:
        scanned = {d.doc_id: d.secret async for d in items if isinstance(d, Doc) and d.owner}
    got = await env.db.batch_get(Doc, [("DOC#d1", "DOC#d1"), ("DOC#d2", "DOC#d2")])

    assert scanned == {"d1": "top", "d2": "two"}
    assert [(d.doc_id, d.secret) for d in got if d is not None] == [("d1", "top"), ("d2", "two")]
    assert sorted(Doc.read) == ["d1", "d1", "d2", "d2"]


async def test_save_sends_only_the_changed_field_when_the_model_was_read_by_a_collection(env: _Env) -> None:
    await _doc_with_memos(env)
    doc, memo, _ = [x async for x in env.db.query(Doc | Memo).key(F(Doc.pk) == "DOC#d1")]
    assert isinstance(doc, Doc) and isinstance(memo, Memo)

    env.clear()
    await env.db.save(doc.model_copy(update={"title": "new"}))
    await env.db.save(memo)

    (payload,) = [p for op, p in env.wire.calls if op == "UpdateItem"]
    assert "secret" not in payload["ExpressionAttributeNames"].values()  # remembered as plaintext
    assert env.kms.operations == []


async def test_transact_get_decrypts_and_runs_after_read_when_entities_mix(env: _Env) -> None:
    await _doc_with_memos(env)

    doc, memo = await env.db.transact_get((Doc, "DOC#d1", "DOC#d1"), (Memo, "DOC#d1", "MEMO#002"))

    assert isinstance(doc, Doc) and doc.secret == "top"
    assert isinstance(memo, Memo) and memo.text == "m2"
    assert (Doc.read, Memo.read) == (["d1"], ["d1/2"])


async def test_batch_write_seals_the_hook_rewrite_when_entities_mix(env: _Env) -> None:
    await env.db.batch_write(
        put=[Doc(doc_id="d1", owner="ann", title="rewrite-me", secret="given"), Memo(doc_id="d1", n=1)]
    )

    raw = await env.raw(Doc, _doc_key("d1"))
    assert raw["title"] == {"S": "rewritten"} and raw["_type"] == {"S": "doc"}
    assert _is_envelope(raw["secret"]) and "from-hook" not in json.dumps(raw)
    assert (await env.db.get(Doc, "DOC#d1", "DOC#d1")).secret == "from-hook"


# ---------------------------------------------------------------------------- streams x Encrypted


def _event(db: DB, *images: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{db.table_name(Doc)}/stream/2026"
    return {
        "Records": [
            {
                "eventID": str(n),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "eventSourceARN": arn,
                "dynamodb": {
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": image,
                    "SequenceNumber": str(100 + n),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
            for n, image in enumerate(images)
        ]
    }


async def test_router_opens_each_record_with_its_entity_when_a_shared_table_has_an_encrypted_entity(
    env: _Env,
) -> None:
    await _doc_with_memos(env)
    doc = await env.raw(Doc, _doc_key("d1"))
    memo = await env.raw(Memo, {"pk": {"S": "DOC#d1"}, "sk": {"S": "MEMO#001"}})
    router: StreamRouter[Doc | Memo] = StreamRouter(Doc, Memo, db=env.db)

    first, second = await router.decrypted(_event(env.db, doc, memo))

    assert isinstance(first.new, Doc) and first.new.secret == "top"
    assert isinstance(second.new, Memo) and second.new.text == "m1"
    assert _is_envelope(doc["secret"])  # the caller's event keeps its envelopes


class _Seen:
    """A stream handler that keeps what it was given."""

    def __init__(self) -> None:
        self.records: list[Doc | Memo | None] = []

    async def __call__(self, record: Any) -> None:
        self.records.append(record.new)


async def test_process_opens_the_encrypted_entity_when_a_plain_entity_is_named_first(env: _Env) -> None:
    await _doc_with_memos(env)
    doc = await env.raw(Doc, _doc_key("d1"))
    memo = await env.raw(Memo, {"pk": {"S": "DOC#d1"}, "sk": {"S": "MEMO#001"}})
    router: StreamRouter[Memo | Doc] = StreamRouter(Memo, Doc, db=env.db)  # the plain entity first
    seen = _Seen()

    result = await router.process(_event(env.db, memo, doc), seen)

    assert result == {"batchItemFailures": []}
    got_memo, got_doc = seen.records
    assert isinstance(got_memo, Memo) and isinstance(got_doc, Doc) and got_doc.secret == "top"


# ---------------------------------------------------------------------- transactions x hooks x KMS


async def test_transaction_seals_the_hook_rewrite_when_a_put_of_an_encrypted_model_is_rewritten(
    env: _Env,
) -> None:
    async with env.db.transaction() as tx:
        tx.put(Doc(doc_id="d1", owner="ann", title="rewrite-me", secret="given"))
        tx.put(Memo(doc_id="d1", n=1, text="beside"))

    raw = await env.raw(Doc, _doc_key("d1"))
    assert raw["title"] == {"S": "rewritten"}
    assert _is_envelope(raw["secret"]) and "from-hook" not in json.dumps(raw)
    assert (await env.db.get(Doc, "DOC#d1", "DOC#d1")).secret == "from-hook"


async def test_transaction_saves_changes_when_entities_with_templates_and_encryption_mix(env: _Env) -> None:
    await _doc_with_memos(env)
    doc = await env.db.get(Doc, "DOC#d1", "DOC#d1")
    memo = await env.db.get(Memo, "DOC#d1", "MEMO#001")

    async with env.db.transaction() as tx:
        tx.save(doc.model_copy(update={"owner": "bob", "secret": "moved"}))
        tx.save(memo.model_copy(update={"text": "edited"}))

    raw = await env.raw(Doc, _doc_key("d1"))
    assert _is_envelope(raw["secret"]) and "moved" not in json.dumps(raw)
    assert raw["gsi1pk"] == {"S": "OWNER#bob"}
    assert (await env.db.get(Doc, "DOC#d1", "DOC#d1")).secret == "moved"
    assert (await env.db.get(Memo, "DOC#d1", "MEMO#001")).text == "edited"


async def test_transaction_seals_the_hook_rewrite_when_a_hook_replaces_an_update_of_an_encrypted_model(
    env: _Env,
) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="before"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    env.clear()
    async with env.db.transaction() as tx:
        tx.update(loaded.model_copy(update={"title": "rewrite-me"}), F(Doc.stamp).set("x"))

    (payload,) = [p for op, p in env.wire.calls if op == "TransactWriteItems"]
    assert "from-hook" not in json.dumps(payload)
    raw = await env.raw(Doc, _doc_key("d1"))
    assert (raw["title"], raw["stamp"]) == ({"S": "rewritten"}, {"S": "x"})
    assert _is_envelope(raw["secret"]) and "from-hook" not in json.dumps(raw)
    assert (await env.db.get(Doc, "DOC#d1", "DOC#d1")).secret == "from-hook"


async def test_transaction_writes_the_hook_value_when_a_hook_rewrites_a_field_a_save_changed(
    env: _Env,
) -> None:
    await env.db.put(Doc(doc_id="d1", owner="ann", secret="before"))
    loaded = await env.db.get(Doc, "DOC#d1", "DOC#d1")

    async with env.db.transaction() as tx:
        tx.save(loaded.model_copy(update={"title": "rewrite-me"}))  # the hook turns it into "rewritten"

    got = await env.db.get(Doc, "DOC#d1", "DOC#d1")
    assert (got.title, got.secret) == ("rewritten", "from-hook")  # as db.save would write it
    raw = await env.raw(Doc, _doc_key("d1"))
    assert _is_envelope(raw["secret"])


# --------------------------------------------------------- TableTheory format x templates x KMS


class TTDoc(Model, table="combo_tt", naming="camelCase", item_format="tabletheory"):
    """TT's format, TT's names and key templates whose components have camelCase stored names."""

    pk: Annotated[str, PK, Stored("PK"), Template("ORG#{org_id}")] = ""
    sk: Annotated[str, SK, Stored("SK"), Template("USER#{user_id}#{joined_on}")] = ""
    by_email: Annotated[str | None, GSI("gsi-email"), Template("EMAIL#{email_hash}")] = None
    org_id: str
    user_id: str
    joined_on: str
    email_hash: str | None = None
    ssn: Annotated[str | None, Encrypted] = None
    badges: Annotated[set[str], Encrypted] = set()


async def test_put_stores_camel_case_components_and_renders_by_field_when_tt_format_has_templates(
    env: _Env,
) -> None:
    await env.db.create_table(TTDoc)
    try:
        written = await env.db.put(TTDoc(org_id="o1", user_id="u1", joined_on="2026", email_hash="h1"))
        raw = await env.raw(TTDoc, {"PK": {"S": "ORG#o1"}, "SK": {"S": "USER#u1#2026"}})
        loaded = await env.db.get(TTDoc, "ORG#o1", "USER#u1#2026")
        saved = await env.db.save(loaded.model_copy(update={"email_hash": "h2"}))
        by_email = [
            x.user_id
            async for x in env.db.query(TTDoc).index("gsi-email").key(F(TTDoc.by_email) == "EMAIL#h2")
        ]
    finally:
        await env.db.delete_table(TTDoc)

    assert (written.pk, written.sk, written.by_email) == ("ORG#o1", "USER#u1#2026", "EMAIL#h1")
    assert {"orgId", "userId", "joinedOn", "emailHash", "byEmail"} <= set(raw)
    assert raw["byEmail"] == {"S": "EMAIL#h1"} and raw["orgId"] == {"S": "o1"}
    assert (saved.by_email, by_email) == ("EMAIL#h2", ["u1"])
    assert loaded == written


async def test_save_removes_the_index_key_when_a_tt_format_component_becomes_none(env: _Env) -> None:
    await env.db.create_table(TTDoc)
    try:
        await env.db.put(TTDoc(org_id="o1", user_id="u1", joined_on="2026", email_hash="h1", ssn="x"))
        loaded = await env.db.get(TTDoc, "ORG#o1", "USER#u1#2026")
        saved = await env.db.save(loaded.model_copy(update={"email_hash": None}))
        raw = await env.raw(TTDoc, {"PK": {"S": "ORG#o1"}, "SK": {"S": "USER#u1#2026"}})
        indexed = [
            x async for x in env.db.query(TTDoc).index("gsi-email").key(F(TTDoc.by_email) == "EMAIL#h1")
        ]
    finally:
        await env.db.delete_table(TTDoc)

    assert saved.by_email is None and "byEmail" not in raw and indexed == []
    assert raw["emailHash"] == {"NULL": True}  # TT's NULL for None outside a key
    assert _is_envelope(raw["ssn"])


async def test_put_seals_null_of_none_and_empty_set_when_tt_format_has_encrypted_fields(env: _Env) -> None:
    await env.db.create_table(TTDoc)
    try:
        await env.db.put(TTDoc(org_id="o1", user_id="u1", joined_on="2026"))
        raw = await env.raw(TTDoc, {"PK": {"S": "ORG#o1"}, "SK": {"S": "USER#u1#2026"}})
        got = await env.db.get(TTDoc, "ORG#o1", "USER#u1#2026")
    finally:
        await env.db.delete_table(TTDoc)

    # As TT's Go writes it: the marshaler's NULL (None, empty set) is sealed like any present value,
    # so no plaintext NULL sits beside the sealed fields.
    assert _is_envelope(raw["ssn"]) and _is_envelope(raw["badges"])
    assert raw.get("emailHash") == {"NULL": True} and "byEmail" not in raw  # a None index key stays absent
    assert (got.ssn, got.badges, got.email_hash) == (None, set(), None)


# ------------------------------------------------------------------------------------------- DMS


class Vault(Model, table="combo_vault", item_format="tabletheory"):
    """A plain keyed model with Encrypted fields: what DMS v0.1 can describe whole."""

    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    owner: str
    pin: Annotated[str, Encrypted] = ""
    card: Annotated[dict[str, int] | None, Encrypted] = None


def test_describe_refuses_when_a_model_has_key_templates() -> None:
    # A model built from such a document would take the rendered keys as plain fields to fill by hand.
    with pytest.raises(ValidationError, match="key Templates"):
        dms.describe(Doc)
    with pytest.raises(ValidationError, match=r"key Templates \(keys and components: PK, orgId"):
        dms.export(TTDoc)


def test_describe_leaves_the_discriminator_out_when_a_model_writes_one() -> None:
    class Tagged(Model, table="combo_tagged", discriminator="_type"):
        pk: Annotated[str, PK]
        name: str = ""

    spec = dms.describe(Tagged)

    assert [a.attribute for a in spec.attributes] == ["pk", "name"]  # no `_type`: DMS v0.1 has no entity


async def test_export_round_trips_encrypted_fields_when_a_model_has_them(env: _Env) -> None:
    document = dms.loads(dms.export(Vault, format="json"))
    built = dms.model_from_dms(document, module="tests.vault_from_dms")

    assert dms.diff(Vault, document) == []
    assert schema_of(built).encrypted == frozenset({"pin", "card"})
    await env.db.create_table(Vault)
    try:
        await env.db.put(Vault(pk="v", sk="1", owner="ann", pin="1234", card={"n": 4111}))
        # The model built from the document opens what the hand-written one sealed, and vice versa.
        got = await env.db.get(built, "v", "1")
        await env.db.put(got.model_copy(update={"pin": "9999"}))
        raw = await env.raw(Vault, {"pk": {"S": "v"}, "sk": {"S": "1"}})
        back = await env.db.get(Vault, "v", "1")
    finally:
        await env.db.delete_table(Vault)

    assert (got.pin, got.card) == ("1234", {"n": 4111})
    assert _is_envelope(raw["pin"]) and "9999" not in json.dumps(raw)
    assert (back.pin, back.card) == ("9999", {"n": 4111})
