"""Envelope encryption without a server: TableTheory's format both ways, fail-closed rules, key caching.

KMS is faked at the Transport seam (`DB(kms_transport=...)`) with TableTheory's contract-test data key
(32 x 0x01, edk "ciphertext-data-key"); DynamoDB is a dict behind the same seam.
"""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.lowlevel
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aiotheory import (
    DB,
    GSI,
    LSI,
    PK,
    SK,
    DataKeyPolicy,
    DecryptionFailed,
    Encrypted,
    EncryptionNotConfigured,
    Model,
    ValidationError,
    Version,
)
from aiotheory.encryption import av_from_json, av_to_json
from aiotheory.testing import FakeTransport, RecordingTransport

if TYPE_CHECKING:
    from aiotheory._types import Payload

_DEK = b"\x01" * 32
_EDK = b"ciphertext-data-key"
_KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/test"


class Card(Model, table="cards"):
    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    label: str = ""
    number: Annotated[str, Encrypted] = ""
    limits: Annotated[dict[str, int] | None, Encrypted] = None
    version: Annotated[int, Version] = 0


class _FakeKms:
    """KMS at the seam: every GenerateDataKey hands out a fresh (dek, edk) pair unless `fixed`."""

    def __init__(self, *, fixed: bool = True) -> None:
        self.fixed = fixed
        self.calls: list[str] = []
        self.keys: dict[bytes, bytes] = {_EDK: _DEK}

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        self.calls.append(operation)
        await anyio.lowlevel.checkpoint()  # a real reply comes later: other tasks run meanwhile
        if operation == "GenerateDataKey":
            assert payload == {"KeyId": _KEY_ARN, "KeySpec": "AES_256"}
            dek, edk = (_DEK, _EDK) if self.fixed else (os.urandom(32), os.urandom(40))
            self.keys[edk] = dek
            return {"Plaintext": _b64(dek), "CiphertextBlob": _b64(edk), "KeyId": _KEY_ARN}
        assert operation == "Decrypt" and payload["KeyId"] == _KEY_ARN
        return {"Plaintext": _b64(self.keys[base64.b64decode(payload["CiphertextBlob"])])}

    async def close(self) -> None:
        return None


class _Table:
    """PutItem / GetItem / BatchGetItem over a dict: enough DynamoDB for the item path."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.operations: list[str] = []

    @staticmethod
    def _key(item: dict[str, Any]) -> str:
        return json.dumps([item["pk"], item["sk"]])

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        self.operations.append(operation)
        if operation == "PutItem":
            self.items[self._key(payload["Item"])] = json.loads(json.dumps(payload["Item"]))
            return {}
        if operation == "GetItem":
            found = self.items.get(self._key(payload["Key"]))
            return {} if found is None else {"Item": json.loads(json.dumps(found))}
        if operation == "BatchGetItem":
            ((table, spec),) = payload["RequestItems"].items()
            got = [self.items[self._key(k)] for k in spec["Keys"] if self._key(k) in self.items]
            return {"Responses": {table: json.loads(json.dumps(got))}}
        raise AssertionError(f"unexpected {operation}")

    async def close(self) -> None:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _db(table: Any, kms: Any, **kwargs: Any) -> DB:
    return DB(region="us-east-1", transport=table, kms_transport=kms, kms_key_id=_KEY_ARN, **kwargs)


# --------------------------------------------------------------- a plain reimplementation of TableTheory


def _tt_marshal(av: dict[str, Any]) -> dict[str, Any]:
    """TableTheory's Go `marshalAVJSON` (attribute_value_json.go), field order of its `avJSON` struct."""
    ((tag, value),) = av.items()
    if tag in ("S", "N", "B"):
        return {"t": tag, tag.lower(): value}
    if tag == "BOOL":
        return {"t": "BOOL", "bool": value}
    if tag == "NULL":
        return {"t": "NULL", "null": True}
    if tag == "L":
        return {"t": "L", "l": [_tt_marshal(v) for v in value]} if value else {"t": "L"}
    if tag == "M":
        return {"t": "M", "m": {k: _tt_marshal(value[k]) for k in sorted(value)}} if value else {"t": "M"}
    return {"t": tag, tag.lower(): value} if value else {"t": tag}


def _tt_unmarshal(enc: dict[str, Any]) -> dict[str, Any]:
    tag = enc["t"]
    if tag in ("S", "N", "B", "SS", "NS", "BS"):
        return {tag: enc.get(tag.lower(), [] if len(tag) == 2 else "")}
    if tag == "BOOL":
        return {"BOOL": enc.get("bool", False)}
    if tag == "NULL":
        return {"NULL": True}
    if tag == "L":
        return {"L": [_tt_unmarshal(v) for v in enc.get("l", [])]}
    return {"M": {k: _tt_unmarshal(v) for k, v in enc.get("m", {}).items()}}


def _tt_encrypt(attr: str, av: dict[str, Any]) -> dict[str, Any]:
    """TableTheory's `EncryptAttributeValue` (service.go) with the contract tests' data key."""
    nonce = os.urandom(12)
    plaintext = json.dumps(_tt_marshal(av), separators=(",", ":"), ensure_ascii=False).encode()
    ct = AESGCM(_DEK).encrypt(nonce, plaintext, f"theorydb:encrypted:v1|attr={attr}".encode())
    return {
        "M": {"v": {"N": "1"}, "edk": {"B": _b64(_EDK)}, "nonce": {"B": _b64(nonce)}, "ct": {"B": _b64(ct)}}
    }


def _tt_decrypt(attr: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """TableTheory's `DecryptAttributeValue`: parse the envelope, open with the data key, unmarshal."""
    members = envelope["M"]
    assert members["v"] == {"N": "1"}
    assert base64.b64decode(members["edk"]["B"]) == _EDK
    nonce = base64.b64decode(members["nonce"]["B"])
    assert len(nonce) == 12
    plain = AESGCM(_DEK).decrypt(
        nonce, base64.b64decode(members["ct"]["B"]), f"theorydb:encrypted:v1|attr={attr}".encode()
    )
    return _tt_unmarshal(json.loads(plain))


# ----------------------------------------------------------------------------------------- format


def test_av_to_json_writes_tabletheory_go_bytes_when_value_nests_and_escapes() -> None:
    av = {
        "M": {
            "b": {"S": "<&> é"},
            "a": {"L": [{"N": "1"}, {"BOOL": False}, {"NULL": True}, {"B": "AAE="}]},
            "e": {"L": []},
            "s": {"SS": ["x", "y"]},
        }
    }
    assert (
        av_to_json(av)
        == (
            '{"t":"M","m":{"a":{"t":"L","l":[{"t":"N","n":"1"},{"t":"BOOL","bool":false},'
            '{"t":"NULL","null":true},{"t":"B","b":"AAE="}]},"b":{"t":"S","s":"\\u003c\\u0026\\u003e é"},'
            '"e":{"t":"L"},"s":{"t":"SS","ss":["x","y"]}}}'
        ).encode()
    )
    assert av_from_json(av_to_json(av)) == av


def test_av_from_json_reads_go_zero_values_when_members_are_omitted() -> None:
    assert av_from_json(b'{"t":"L"}') == {"L": []}
    assert av_from_json(b'{"t":"BOOL"}') == {"BOOL": False}
    assert av_from_json(b'{"t":"NS"}') == {"NS": []}
    with pytest.raises(ValueError):
        av_from_json(b'{"t":"X"}')


async def test_get_decodes_item_when_tabletheory_wrote_the_envelopes() -> None:
    table, kms = _Table(), _FakeKms()
    item = {
        "pk": {"S": "USER#1"},
        "sk": {"S": "PROFILE"},
        "label": {"S": "plain"},
        "number": _tt_encrypt("number", {"S": "4111-1111"}),
        "limits": _tt_encrypt("limits", {"M": {"day": {"N": "500"}, "atm": {"N": "20"}}}),
        "version": {"N": "0"},
    }
    table.items[_Table._key(item)] = item
    got = await _db(table, kms).get(Card, "USER#1", "PROFILE")
    assert (got.number, got.limits, got.label) == ("4111-1111", {"day": 500, "atm": 20}, "plain")
    assert kms.calls == ["Decrypt"]  # two attributes, one data key


async def test_tabletheory_reader_decrypts_item_when_aiotheory_wrote_it() -> None:
    table, kms = _Table(), _FakeKms()
    await _db(table, kms).put(Card(pk="U", sk="P", number="4111", limits={"day": 5}))
    (stored,) = table.items.values()
    assert _tt_decrypt("number", stored["number"]) == {"S": "4111"}
    assert _tt_decrypt("limits", stored["limits"]) == {"M": {"day": {"N": "5"}}}
    assert stored["label"] == {"S": ""}
    assert "4111" not in json.dumps(stored)
    assert kms.calls == ["GenerateDataKey"]


async def test_get_raises_decryption_failed_when_envelope_belongs_to_another_attribute() -> None:
    table, kms = _Table(), _FakeKms()
    item = {"pk": {"S": "U"}, "sk": {"S": "P"}, "number": _tt_encrypt("limits", {"S": "x"})}
    table.items[_Table._key(item)] = item
    with pytest.raises(DecryptionFailed) as failed:
        await _db(table, kms).get(Card, "U", "P")
    assert failed.value.field == "number"
    assert failed.value.key == {"pk": {"S": "U"}, "sk": {"S": "P"}}
    assert "x" not in str(failed.value).split("'")[-1]


async def test_get_raises_decryption_failed_when_attribute_is_not_an_envelope() -> None:
    table, kms = _Table(), _FakeKms()
    item = {"pk": {"S": "U"}, "sk": {"S": "P"}, "number": {"S": "plaintext"}}
    table.items[_Table._key(item)] = item
    with pytest.raises(DecryptionFailed, match="not an encrypted envelope"):
        await _db(table, kms).get(Card, "U", "P")


# ----------------------------------------------------------------------------------- fail closed


def _nothing_configured() -> tuple[DB, RecordingTransport, _FakeKms]:
    recorder = RecordingTransport(FakeTransport())
    kms = _FakeKms()
    return DB(region="us-east-1", transport=recorder, kms_transport=kms), recorder, kms


async def test_every_operation_raises_encryption_not_configured_when_no_key_and_sends_nothing() -> None:
    db, recorder, kms = _nothing_configured()
    card = Card(pk="U", sk="P", number="1")
    attempts = [
        db.get(Card, "U", "P"),
        db.find(Card, "U", "P"),
        db.put(card),
        db.create(card),
        db.replace(card),
        db.update(card, Card.label.set("x")),  # type: ignore[attr-defined]
        db.delete(Card, "U", "P"),
        db.query(Card).key(Card.pk == "U").page(),  # type: ignore[arg-type]
        db.query(Card).key(Card.pk == "U").first(),  # type: ignore[arg-type]
        db.query(Card).key(Card.pk == "U").count(),  # type: ignore[arg-type]
        db.scan(Card).page(),
        db.batch_get(Card, [("U", "P")]),
        db.batch_write(put=[card]),
        db.transact_get(Card, [("U", "P")]),
    ]
    for attempt in attempts:
        with pytest.raises(EncryptionNotConfigured):
            await attempt
    with pytest.raises(EncryptionNotConfigured):
        db.scan(Card).parallel(2)
    with pytest.raises(EncryptionNotConfigured):
        async with db.transaction() as tx:
            tx.put(card)
    recorder.assert_nothing_sent()
    assert kms.calls == []


async def test_get_uses_model_key_when_model_names_its_own_kms_key() -> None:
    class Own(Model, table="owns", kms_key_id=_KEY_ARN):
        pk: Annotated[str, PK]
        sk: Annotated[str, SK]
        number: Annotated[str, Encrypted] = ""

    table, kms = _Table(), _FakeKms()
    db = DB(region="us-east-1", transport=table, kms_transport=kms)
    await db.put(Own(pk="a", sk="b", number="n"))
    assert (await db.get(Own, "a", "b")).number == "n"
    assert kms.calls == ["GenerateDataKey"]


@pytest.mark.parametrize(
    "marker",
    [PK, SK, Version, GSI("by-number"), GSI("by-x", "sk"), LSI("by-number")],
    ids=["pk", "sk", "version", "gsi-pk", "gsi-sk", "lsi"],
)
def test_model_raises_validation_error_when_encrypted_field_is_a_key_or_index_key(marker: object) -> None:
    annotations = {
        "id": Annotated[str, PK],
        "other": Annotated[str, SK],
        "x": Annotated[str, GSI("by-x")],
        "secret": Annotated[str, Encrypted, marker],
    }
    namespace = {"__annotations__": annotations, "id": "x", "other": "y", "x": "z", "secret": ""}
    with pytest.raises(ValidationError, match="Encrypted field cannot be a key"):
        type(Model)("Bad", (Model,), namespace, table="bads")


class _Inner(Model):
    secret: Annotated[str, Encrypted] = ""


class _Outer(Model, table="outers"):
    id: Annotated[str, PK]
    inner: _Inner | None = None


def test_schema_raises_validation_error_when_a_nested_model_has_an_encrypted_field() -> None:
    with pytest.raises(ValidationError, match="only a table model's own fields"):
        DB(region="us-east-1").register(_Outer)


async def test_writes_raise_validation_error_when_a_condition_reads_an_encrypted_field() -> None:
    recorder = RecordingTransport(FakeTransport())
    kms = _FakeKms()
    db = DB(region="us-east-1", transport=recorder, kms_transport=kms, kms_key_id=_KEY_ARN)
    card = Card(pk="U", sk="P", number="1")
    number: Any = Card.number  # type: ignore[attr-defined]
    refused = [
        db.put(card, condition=number == "1"),
        db.delete(Card, "U", "P", condition=number.exists()),
        db.update(card, Card.label.set("l"), condition=number.begins_with("4")),  # type: ignore[attr-defined]
        db.update(card, Card.limits["day"].set(1)),  # type: ignore[attr-defined]
        db.update(card, number.set(Card.label)),  # type: ignore[attr-defined]
    ]
    for attempt in refused:
        with pytest.raises(ValidationError, match="Encrypted attribute"):
            await attempt
    with pytest.raises(ValidationError, match="Encrypted attribute"):
        db.scan(Card).filter(number == "1")
    with pytest.raises(ValidationError, match="Encrypted attribute"):
        db.query(Card).key(Card.pk == "U").filter(number.contains("1"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Encrypted attribute"):
        async with db.transaction() as tx:
            tx.check(Card, "U", "P", number.not_exists())
    recorder.assert_nothing_sent()
    assert kms.calls == []


# ----------------------------------------------------------------------------------- key caching


async def test_thousand_reads_and_writes_make_at_most_ten_kms_calls_when_keys_are_cached() -> None:
    table, kms = _Table(), _FakeKms(fixed=False)
    writer = _db(table, kms)
    for i in range(1_000):
        await writer.put(Card(pk="U", sk=str(i), number=f"n{i}", limits={"d": i}))
    reader = _db(table, kms)  # a cold process: its cache starts empty
    for i in range(1_000):
        assert (await reader.get(Card, "U", str(i))).number == f"n{i}"
    assert len(kms.calls) <= 10
    assert kms.calls == ["GenerateDataKey", "Decrypt"]
    assert writer.encryption.kms_calls + reader.encryption.kms_calls == 2


async def test_concurrent_first_writes_share_one_data_key_when_cache_is_cold() -> None:
    table, kms = _Table(), _FakeKms(fixed=False)
    db = _db(table, kms)
    async with anyio.create_task_group() as tg:
        for i in range(64):
            tg.start_soon(db.put, Card(pk="U", sk=str(i), number="n", limits={"a": 1}))
    assert kms.calls == ["GenerateDataKey"]
    assert len({item["number"]["M"]["edk"]["B"] for item in table.items.values()}) == 1


async def test_sealing_asks_kms_again_when_data_key_reaches_its_use_bound() -> None:
    table, kms = _Table(), _FakeKms(fixed=False)
    db = _db(table, kms, data_keys=DataKeyPolicy(max_uses=3))
    for i in range(7):  # 7 writes x 1 present encrypted attribute (limits is None: not written)
        await db.put(Card(pk="U", sk=str(i), number="n"))
    assert kms.calls == ["GenerateDataKey"] * 3
    edks = {item["number"]["M"]["edk"]["B"] for item in table.items.values()}
    assert len(edks) == 3


async def test_sealing_asks_kms_again_when_data_key_reaches_its_age_bound() -> None:
    now = [1_000.0]
    table, kms = _Table(), _FakeKms(fixed=False)
    db = _db(table, kms, data_keys=DataKeyPolicy(max_age=60, clock=lambda: now[0]))
    await db.put(Card(pk="U", sk="1", number="n"))
    now[0] += 59.9
    await db.put(Card(pk="U", sk="2", number="n"))
    assert kms.calls == ["GenerateDataKey"]
    now[0] += 0.2
    await db.put(Card(pk="U", sk="3", number="n"))
    assert kms.calls == ["GenerateDataKey"] * 2


async def test_opening_asks_kms_again_when_edk_fell_out_of_the_lru() -> None:
    table, kms = _Table(), _FakeKms(fixed=False)
    writer = _db(table, kms, data_keys=DataKeyPolicy(max_uses=1))
    await writer.put(Card(pk="U", sk="1", number="a"))
    await writer.put(Card(pk="U", sk="2", number="b"))
    reader = _db(table, kms, data_keys=DataKeyPolicy(decrypt_entries=1))
    kms.calls.clear()
    for sk in ("1", "2", "1", "1"):
        await reader.get(Card, "U", sk)
    assert kms.calls == ["Decrypt", "Decrypt", "Decrypt"]


async def test_batch_get_decrypts_once_per_distinct_edk_when_items_share_data_keys() -> None:
    table, kms = _Table(), _FakeKms(fixed=False)
    writer = _db(table, kms, data_keys=DataKeyPolicy(max_uses=4))
    for i in range(12):  # 12 envelopes, 4 per data key: 3 distinct edks
        await writer.put(Card(pk="U", sk=str(i), number=str(i)))
    reader = _db(table, kms)
    kms.calls.clear()
    got = await reader.batch_get(Card, [("U", str(i)) for i in range(12)])
    assert [g.number if g else None for g in got] == [str(i) for i in range(12)]
    assert kms.calls == ["Decrypt"] * 3


def test_reprs_hold_no_key_material_when_keys_are_cached() -> None:
    db = _db(_Table(), _FakeKms())
    assert _b64(_DEK) not in repr(db.encryption)
    assert "max_uses=10000" in repr(DataKeyPolicy())
    assert "kms" not in repr(db).lower() or _KEY_ARN not in repr(db)
