"""Encrypted fields end to end: KMS from moto, DynamoDB from the engine under test, every read/write path."""

from __future__ import annotations

import base64
import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import (
    DB,
    PK,
    SK,
    ConditionFailed,
    DecryptionFailed,
    Encrypted,
    Model,
    Version,
)
from aiotheory.streams import StreamRouter
from aiotheory.testing import MotoServer
from aiotheory.transport._kms import KmsTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiotheory.testing import Backend


class Secret(Model, table="secrets"):
    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    note: str = ""
    ssn: Annotated[str, Encrypted] = ""
    card: Annotated[dict[str, int] | None, Encrypted] = None
    version: Annotated[int, Version] = 0


_ENVELOPE_KEYS = {"v", "edk", "nonce", "ct"}


@pytest.fixture(scope="module")
def kms_endpoint(aiotheory_backend: Backend) -> Iterator[str]:
    """moto serves KMS on every backend run: the engine itself under moto, a second moto under DDB Local."""
    if aiotheory_backend.name == "moto":
        yield aiotheory_backend.endpoint_url
        return
    server = MotoServer().start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


async def _create_key(backend: Backend, endpoint: str) -> str:
    kms = KmsTransport(backend.region, endpoint_url=endpoint, credentials=_static(backend))
    try:
        reply = await kms.send("CreateKey", {"Description": "aiotheory tests"})
    finally:
        await kms.close()
    key_id: str = reply["KeyMetadata"]["KeyId"]
    return key_id


def _static(backend: Backend) -> Any:
    from aiotheory.credentials import resolve

    return resolve(backend.credentials, None)


@pytest.fixture
async def edb(aiotheory_backend: Backend, transport_name: str, kms_endpoint: str) -> AsyncIterator[DB]:
    key_id = await _create_key(aiotheory_backend, kms_endpoint)
    db = DB(
        region=aiotheory_backend.region,
        endpoint_url=aiotheory_backend.endpoint_url,
        credentials=aiotheory_backend.credentials,
        table_prefix=f"t{uuid.uuid4().hex[:8]}_",
        transport=transport_name,  # type: ignore[arg-type]  # "lean" or "botocore"
        kms_key_id=key_id,
        kms_endpoint_url=kms_endpoint,
    )
    await db.create_table(Secret, stream="NEW_AND_OLD_IMAGES")
    try:
        yield db
    finally:
        await db.delete_table(Secret)
        await db.close()


async def _raw(db: DB, pk: str, sk: str) -> dict[str, Any]:
    reply = await db.raw(
        "GetItem", {"TableName": db.table_name(Secret), "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}
    )
    item: dict[str, Any] = reply["Item"]
    return item


def _is_envelope(av: dict[str, Any]) -> bool:
    members = av["M"]
    return (
        set(members) == _ENVELOPE_KEYS
        and members["v"] == {"N": "1"}
        and len(base64.b64decode(members["nonce"]["B"])) == 12
        and all(set(members[k]) == {"B"} for k in ("edk", "nonce", "ct"))
    )


async def test_put_stores_envelopes_when_fields_are_encrypted(edb: DB) -> None:
    await edb.put(Secret(pk="p", sk="1", note="hi", ssn="123-45-6789", card={"n": 4111}))
    raw = await _raw(edb, "p", "1")
    assert raw["note"] == {"S": "hi"}
    assert _is_envelope(raw["ssn"]) and _is_envelope(raw["card"])
    assert "123-45-6789" not in json.dumps(raw) and "4111" not in json.dumps(raw)
    got = await edb.get(Secret, "p", "1")
    assert (got.ssn, got.card) == ("123-45-6789", {"n": 4111})
    assert await edb.find(Secret, "p", "1") == got


async def test_create_replace_update_delete_round_trip_when_fields_are_encrypted(edb: DB) -> None:
    created = await edb.create(Secret(pk="p", sk="2", ssn="a"))
    with pytest.raises(ConditionFailed) as failed:
        await edb.create(Secret(pk="p", sk="2", ssn="b"))
    assert failed.value.old is not None and failed.value.old.ssn == "a"  # type: ignore[attr-defined]
    replaced = await edb.replace(created.model_copy(update={"ssn": "b"}))
    assert (await edb.get(Secret, "p", "2")).ssn == "b"
    updated = await edb.update(replaced, Secret.ssn.set("c"), Secret.note.set("n"))  # type: ignore[attr-defined]
    assert (updated.ssn, updated.note) == ("c", "n")
    raw = await _raw(edb, "p", "2")
    assert _is_envelope(raw["ssn"])
    await edb.update(updated, Secret.card.set({"x": 1}))  # type: ignore[attr-defined]
    assert (await edb.get(Secret, "p", "2")).card == {"x": 1}
    await edb.delete(Secret, "p", "2")
    assert await edb.find(Secret, "p", "2") is None


async def test_query_scan_batch_transaction_round_trip_when_fields_are_encrypted(edb: DB) -> None:
    items = [Secret(pk="q", sk=str(i), ssn=f"s{i}") for i in range(5)]
    await edb.batch_write(put=items)
    found = [s.ssn async for s in edb.query(Secret).key(Secret.pk == "q")]  # type: ignore[arg-type]
    assert found == [f"s{i}" for i in range(5)]
    page = await edb.scan(Secret).page()
    assert sorted(s.ssn for s in page.items) == [f"s{i}" for i in range(5)]
    first = await edb.query(Secret).key(Secret.pk == "q").first()  # type: ignore[arg-type]
    assert first is not None and first.ssn == "s0"
    async with edb.scan(Secret).parallel(2) as stream:
        assert sorted([s.ssn async for s in stream]) == [f"s{i}" for i in range(5)]
    got = await edb.batch_get(Secret, [("q", "1"), ("q", "9"), ("q", "3")])
    assert [g.ssn if g else None for g in got] == ["s1", None, "s3"]
    async with edb.transaction() as tx:
        tx.put(Secret(pk="t", sk="1", ssn="tx-put"))
        tx.update(items[0], Secret.ssn.set("tx-upd"))  # type: ignore[attr-defined]
    snap = await edb.transact_get(Secret, [("t", "1"), ("q", "0")])
    assert [s.ssn if s else None for s in snap] == ["tx-put", "tx-upd"]
    assert _is_envelope((await _raw(edb, "t", "1"))["ssn"])


async def test_get_raises_decryption_failed_when_envelope_moved_to_another_attribute(edb: DB) -> None:
    await edb.put(Secret(pk="m", sk="1", ssn="a", card={"n": 1}))
    raw = await _raw(edb, "m", "1")
    raw["ssn"], raw["card"] = raw["card"], raw["ssn"]
    await edb.raw("PutItem", {"TableName": edb.table_name(Secret), "Item": raw})
    with pytest.raises(DecryptionFailed) as failed:
        await edb.get(Secret, "m", "1")
    assert failed.value.field in ("ssn", "card")
    assert failed.value.table == edb.table_name(Secret)


async def test_get_raises_decryption_failed_when_ciphertext_is_tampered(edb: DB) -> None:
    await edb.put(Secret(pk="m", sk="2", ssn="a"))
    raw = await _raw(edb, "m", "2")
    ct = bytearray(base64.b64decode(raw["ssn"]["M"]["ct"]["B"]))
    ct[0] ^= 1
    raw["ssn"]["M"]["ct"]["B"] = base64.b64encode(bytes(ct)).decode()
    await edb.raw("PutItem", {"TableName": edb.table_name(Secret), "Item": raw})
    with pytest.raises(DecryptionFailed):
        await edb.get(Secret, "m", "2")


async def test_stream_records_decrypt_when_router_has_db(edb: DB) -> None:
    await edb.put(Secret(pk="s", sk="1", ssn="stream-secret"))
    raw = await _raw(edb, "s", "1")
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{edb.table_name(Secret)}/stream/2026"
    event = {
        "Records": [
            {
                "eventID": "1",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "eventSourceARN": arn,
                "dynamodb": {
                    "Keys": {"pk": raw["pk"], "sk": raw["sk"]},
                    "NewImage": raw,
                    "SequenceNumber": "100",
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        ]
    }
    router = StreamRouter(Secret, db=edb)
    (record,) = await router.decrypted(event)
    assert record.new is not None and record.new.ssn == "stream-secret"
    seen: list[str] = []

    async def handle(rec: Any) -> None:
        seen.append(rec.new.ssn)

    assert await router.process(event, handle) == {"batchItemFailures": []}
    assert seen == ["stream-secret"]
    with pytest.raises(ValueError, match="Encrypted"):
        router.record(event["Records"][0])  # type: ignore[index]
