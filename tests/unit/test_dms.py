"""aiotheory.dms: parsing and validating DMS v0.1, models from DMS, describe / diff, export, the CLI."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest

from aiotheory import (
    GSI,
    LSI,
    PK,
    SK,
    TTL,
    CreatedAt,
    DmsMismatch,
    EpochSeconds,
    JSONString,
    Model,
    OmitEmpty,
    Stored,
    UpdatedAt,
    ValidationError,
    Version,
    dms,
)
from aiotheory._cli import main
from aiotheory.model import schema_of

_ROOT = Path(__file__).resolve().parents[2]
_TT = _ROOT / "tests" / "conformance" / "data" / "tabletheory"


def _base() -> dict[str, Any]:
    """A small valid document to mutate: one model with keys, a GSI and an LSI."""
    return {
        "dms_version": "0.1",
        "namespace": "acme.test",
        "models": [
            {
                "name": "Note",
                "table": {"name": "notes"},
                "naming": {"convention": "camelCase"},
                "keys": {
                    "partition": {"attribute": "PK", "type": "S"},
                    "sort": {"attribute": "SK", "type": "S"},
                },
                "attributes": [
                    {"attribute": "PK", "type": "S", "required": True, "roles": ["pk"]},
                    {"attribute": "SK", "type": "S", "required": True, "roles": ["sk"]},
                    {"attribute": "owner", "type": "S", "optional": True},
                    {"attribute": "rank", "type": "N", "format": "int", "optional": True},
                    {"attribute": "version", "type": "N", "format": "int", "roles": ["version"]},
                ],
                "indexes": [
                    {
                        "name": "by-owner",
                        "type": "GSI",
                        "partition": {"attribute": "owner", "type": "S"},
                        "sort": {"attribute": "rank", "type": "N"},
                        "projection": {"type": "INCLUDE", "fields": ["version"]},
                    },
                    {
                        "name": "by-rank",
                        "type": "LSI",
                        "partition": {"attribute": "PK", "type": "S"},
                        "sort": {"attribute": "rank", "type": "N"},
                        "projection": {"type": "KEYS_ONLY"},
                    },
                ],
            }
        ],
    }


class User(Model, table="users_contract", naming="camelCase", item_format="tabletheory"):
    """TT's contract User, written by hand: what `diff` must find equivalent to user.yml."""

    pk: Annotated[str, PK, Stored("PK")]
    sk: Annotated[str, SK, Stored("SK")]
    email_hash: Annotated[str | None, GSI("gsi-email")] = None
    nickname: Annotated[str | None, OmitEmpty] = None
    tags: Annotated[set[str] | None, OmitEmpty] = None
    created_at: Annotated[dt.datetime | None, CreatedAt] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0
    ttl: Annotated[int | None, TTL, OmitEmpty] = None


class Wide(Model, table="wide"):
    """One field of each kind `describe` maps."""

    id: Annotated[bytes, PK]
    at: Annotated[int, SK]
    name: str
    amount: Decimal = Decimal(0)
    ok: bool = False
    data: bytes = b""
    labels: set[str] = set()
    counts: set[int] = set()
    ratios: set[Decimal] = set()
    blobs: set[bytes] = set()
    items: list[str] = []
    attrs: dict[str, int] = {}
    payload: Annotated[dict[str, Any], JSONString] = {}
    seen: Annotated[
        dt.datetime | None, EpochSeconds, LSI("by-seen", projection="INCLUDE", include=["name"])
    ] = None
    stamp: dt.datetime | None = None
    expires: Annotated[dt.datetime | None, TTL] = None


# ------------------------------------------------------------------------------------------ parsing


def test_load_reads_every_field_when_given_tabletheorys_order_model() -> None:
    doc = dms.load(_TT / "order.yml")
    assert doc.dms_version == "0.1"
    assert doc.namespace == "theorydb.contract"
    order = doc.model("Order")
    assert order.table == "orders_contract"
    assert order.naming == "camelCase"
    assert order.partition == dms.KeySpec("PK", "S")
    assert order.sort == dms.KeySpec("SK", "S")
    assert order.attribute("ttl") == dms.AttributeSpec(
        attribute="ttl", type="N", format="unix_seconds", roles=("ttl",), optional=True, omit_empty=True
    )
    assert order.indexes == (
        dms.IndexSpec(
            name="gsi-status",
            type="GSI",
            partition=dms.KeySpec("status", "S"),
            sort=dms.KeySpec("createdAt", "S"),
            projection="ALL",
        ),
    )


def test_loads_gives_the_same_document_when_the_text_is_json_or_yaml() -> None:
    raw = _base()
    yaml_text = dms.export(dms.parse(raw).models[0], format="yaml", namespace="acme.test")
    assert dms.loads(json.dumps(raw)) == dms.parse(raw) == dms.loads(yaml_text)


def _set(path: str, value: object) -> dict[str, Any]:
    raw = _base()
    target: Any = raw
    *head, last = path.split(".")
    for part in head:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return raw


_DELETE = object()


def _without_sort_key() -> dict[str, Any]:
    raw = _set("models.0.keys.sort", _DELETE)
    del raw["models"][0]["attributes"][1]["roles"]
    return raw


_M = "models.0"
_A = f"{_M}.attributes"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_set("dms_version", "0.2"), "unsupported dms_version: '0.2'"),
        (_set("dms_version", 0.1), "unsupported dms_version: 0.1"),
        (_set("models", []), "must include models[]"),
        (_set(f"{_M}.name", " "), "missing its name"),
        (_set(f"{_M}.table", {"name": ""}), "model Note: table: missing name"),
        (_set(f"{_M}.keys.partition", _DELETE), "model Note: missing keys.partition"),
        (_set(f"{_M}.keys.sort", {"attribute": "SK", "type": "BOOL"}), "keys.sort: key type must be one of"),
        (_set(f"{_M}.attributes", []), "model Note: missing attributes[]"),
        (_set(f"{_A}.0", {"attribute": "other", "type": "S"}), "missing partition key attribute PK"),
        (_set(f"{_A}.2.attribute", "SK"), "duplicate attribute SK"),
        (_set(f"{_A}.2.required", True), "attribute owner: cannot be both required and optional"),
        (_set(f"{_A}.2.json", True) | {}, None),
        (_set(f"{_A}.3.binary", True), "attribute rank: binary requires type B (got N)"),
        (_set(f"{_A}.2.type", "STRING"), "attribute owner: unknown type 'STRING'"),
        (_set(f"{_A}.2.format", "uuid"), "attribute owner: unknown format 'uuid'"),
        (_set(f"{_A}.2.format", "int"), "attribute owner: format int does not apply to type S"),
        (_set(f"{_A}.2.roles", ["owner"]), "attribute owner: unknown role 'owner'"),
        (_set(f"{_A}.4.roles", ["version", "ttl"]), "attribute version: roles version, ttl conflict"),
        (_set(f"{_A}.4.roles", ["version", "version"]), "attribute version: a role is given twice"),
        (_set(f"{_A}.2.roles", ["created_at"]), None),
        (_set(f"{_A}.3.roles", ["pk"]), "attribute rank has role pk but is not that key"),
        (_set(f"{_A}.0.roles", ["pk", "version"]), "roles pk, version conflict"),
        (_set(f"{_A}.0.type", "N"), "partition key PK is type S, the attribute says N"),
        (_set(f"{_A}.0.encryption", {"v": 1}), "partition key PK cannot be encrypted"),
        (_set(f"{_A}.1.omit_empty", True), "key attribute SK cannot be omit_empty"),
        (_set(f"{_A}.2.omitempty", True), "attribute owner: unknown key(s) omitempty"),
        (_set(f"{_A}.2.attribute", "Owner"), "attribute Owner does not follow naming camelCase"),
        (_set(f"{_M}.naming.convention", "kebab"), "naming.convention must be camelCase or snake_case"),
        (
            _set(f"{_M}.indexes.0.partition.attribute", "missing"),
            "missing index by-owner partition key attribute",
        ),
        (_set(f"{_M}.indexes.0.type", "XSI"), "index by-owner: type must be GSI or LSI"),
        (_set(f"{_M}.indexes.0.projection", {"type": "INCLUDE"}), "projection INCLUDE needs fields"),
        (
            _set(f"{_M}.indexes.0.projection", {"type": "ALL", "fields": ["owner"]}),
            "only allowed with projection",
        ),
        (
            _set(f"{_M}.indexes.0.projection.fields", ["nope"]),
            "projection includes nope, which is no declared",
        ),
        (_set(f"{_M}.indexes.1.name", "by-owner"), "index by-owner: declared twice"),
        (_set(f"{_M}.indexes.1.partition.attribute", "owner"), "an LSI's partition key must be the table's"),
        (_without_sort_key(), "an LSI needs a table with a sort key"),
        (_set("namespace", 3), "namespace must be a string"),
        (_set(f"{_A}.2.tags", {"at": dt.date(2026, 1, 2)}), "a value that is not JSON (date)"),
    ],
)
def test_parse_raises_validation_error_naming_the_place_when_the_document_is_invalid(
    raw: dict[str, Any], message: str | None
) -> None:
    if message is None:  # a control: the mutation alone is valid (json on S; created_at on S)
        fix = copy.deepcopy(raw)
        fix["models"][0]["attributes"][2].pop("roles", None)
        dms.parse(fix)
        return
    with pytest.raises(ValidationError) as info:
        dms.parse(raw)
    assert message in str(info.value)


def test_parse_raises_validation_error_when_a_model_is_declared_twice() -> None:
    raw = _base()
    raw["models"].append(copy.deepcopy(raw["models"][0]))
    with pytest.raises(ValidationError, match="model Note: declared twice"):
        dms.parse(raw)


def test_load_names_the_file_when_the_document_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_set("dms_version", "9")), encoding="utf-8")
    with pytest.raises(ValidationError, match=r"bad\.json: unsupported dms_version"):
        dms.load(path)


def test_loads_raises_validation_error_when_the_text_is_not_yaml() -> None:
    with pytest.raises(ValidationError, match="not valid YAML"):
        dms.loads("models: [unclosed")


def _run_without_yaml(code: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", "import sys\nsys.modules['yaml'] = None\n" + code],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=_ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_loads_raises_missing_extra_naming_dms_when_pyyaml_is_absent_and_reads_json_anyway() -> None:
    code = f"""
from aiotheory import MissingExtra, dms
try:
    dms.loads("dms_version: '0.1'")
except MissingExtra as exc:
    print(exc.extra, exc.name, isinstance(exc, ImportError))
    print(exc)
print(len(dms.loads({json.dumps(json.dumps(_base()))}).models))
print(dms.export(dms.loads({json.dumps(json.dumps(_base()))}).models[0])[:1])
"""
    lines = _run_without_yaml(code)
    assert lines[0] == "dms yaml True"
    assert 'pip install "aiotheory[dms]"' in lines[1]
    assert lines[2:] == ["1", "{"]  # JSON parses, and export falls back to JSON


def test_parse_loads_no_pydantic_when_only_reading_a_document() -> None:
    code = f"""
from aiotheory import dms
dms.parse({_base()!r})
print("pydantic" in sys.modules)
"""
    assert _run_without_yaml(code) == ["False"]


# ------------------------------------------------------------------------------------------ DMS -> models


def test_model_from_dms_builds_keys_indexes_and_roles_when_given_a_model() -> None:
    note = dms.model_from_dms(dms.parse(_base()))
    schema = schema_of(note)
    assert note.__name__ == "Note"
    assert schema.table == "notes"
    assert (schema.pk.field, schema.pk.stored, schema.pk.type) == ("pk", "PK", "S")
    assert schema.sk is not None
    assert (schema.sk.field, schema.sk.stored) == ("sk", "SK")
    assert schema.version is not None
    assert schema.version.stored == "version"
    gsi, lsi = schema.indexes
    assert (gsi.name, gsi.kind, gsi.pk.stored, gsi.sk and gsi.sk.stored) == (
        "by-owner",
        "GSI",
        "owner",
        "rank",
    )
    assert (gsi.projection, gsi.include) == ("INCLUDE", ("version",))
    assert (lsi.name, lsi.kind, lsi.projection) == ("by-rank", "LSI", "KEYS_ONLY")
    assert note(pk="a", sk="b").version == 0


@pytest.mark.parametrize(
    ("attribute", "value", "stored"),
    [
        ({"type": "S"}, "x", {"S": "x"}),
        ({"type": "N"}, Decimal("1.5"), {"N": "1.5"}),
        ({"type": "N", "format": "int"}, 7, {"N": "7"}),
        ({"type": "B"}, b"\x01", {"B": "AQ=="}),
        ({"type": "BOOL"}, True, {"BOOL": True}),
        ({"type": "SS"}, {"b", "a"}, {"SS": ["a", "b"]}),
        ({"type": "NS"}, {Decimal("2.5")}, {"NS": ["2.5"]}),
        ({"type": "NS", "format": "int"}, {3, 1}, {"NS": ["1", "3"]}),
        ({"type": "BS"}, {b"\x01"}, {"BS": ["AQ=="]}),
        ({"type": "L"}, ["a", 1], {"L": [{"S": "a"}, {"N": "1"}]}),
        ({"type": "M"}, {"k": "v"}, {"M": {"k": {"S": "v"}}}),
        ({"type": "S", "json": True}, {"b": 1, "a": [True]}, {"S": '{"a":[true],"b":1}'}),
        (
            {"type": "S", "format": "rfc3339nano"},
            dt.datetime(2026, 1, 2, 3, 4, 5, 100000, dt.UTC),
            {"S": "2026-01-02T03:04:05.1Z"},
        ),
        (
            {"type": "N", "format": "unix_seconds"},
            dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
            {"N": "1767312000"},
        ),
        ({"type": "N", "format": "unix_seconds", "roles": ["ttl"]}, 1700000000, {"N": "1700000000"}),
    ],
)
def test_model_from_dms_stores_each_type_as_declared_when_a_value_is_written(
    attribute: dict[str, Any], value: object, stored: dict[str, Any]
) -> None:
    raw = _base()
    raw["models"][0]["attributes"].append({"attribute": "value", **attribute})
    model = dms.model_from_dms(dms.parse(raw))
    item = schema_of(model).encode(model(pk="a", sk="b", value=value))
    assert item["value"] == stored
    assert schema_of(model).decode(item).value == value  # type: ignore[attr-defined]


def test_model_from_dms_omits_empty_values_when_omit_empty_is_set() -> None:
    model = dms.model_from_dms(dms.load(_TT / "user.yml"))
    item = schema_of(model).encode(model(pk="u", sk="p", nickname="", tags=set(), ttl=0))
    assert {"nickname", "tags", "ttl"}.isdisjoint(item)


def test_model_from_dms_names_fields_in_snake_case_and_avoids_pydantic_names_when_attributes_clash() -> None:
    raw = _base()
    raw["models"][0]["naming"] = None
    raw["models"][0]["attributes"] += [
        {"attribute": "schema", "type": "S"},
        {"attribute": "model_id", "type": "S"},
        {"attribute": "class", "type": "S"},
        {"attribute": "emailHash", "type": "S"},
        {"attribute": "email_hash", "type": "S"},
        {"attribute": "2fa", "type": "BOOL"},
    ]
    model = dms.model_from_dms(dms.parse(raw))
    names = dms.field_names(model)
    assert [names[a] for a in ("schema", "model_id", "class", "emailHash", "email_hash", "2fa")] == [
        "schema_",
        "model_id_",
        "class_",
        "email_hash",
        "email_hash_2",
        "f_2fa",
    ]


def test_model_from_dms_raises_validation_error_when_a_document_with_several_models_gets_no_name() -> None:
    raw = _base()
    second = copy.deepcopy(raw["models"][0]) | {"name": "Other"}
    raw["models"].append(second)
    doc = dms.parse(raw)
    with pytest.raises(ValidationError, match="needs a name"):
        dms.model_from_dms(doc)
    assert dms.model_from_dms(doc, "Other").__name__ == "Other"
    assert list(dms.models_from_dms(doc)) == ["Note", "Other"]


def test_model_from_dms_marks_the_field_encrypted_when_the_attribute_has_encryption() -> None:
    raw = _base()
    raw["models"][0]["attributes"].append({"attribute": "secret", "type": "S", "encryption": {"v": 1}})
    doc = dms.parse(raw)
    model = dms.model_from_dms(doc)
    assert dms.describe(model).attribute("secret").encrypted
    dms.assert_equivalent(model, doc)
    assert dms.loads(dms.export(model)).models[0].attribute("secret").encrypted


# ------------------------------------------------------------------------------------------ describe / diff


def test_diff_finds_nothing_when_a_hand_written_model_matches_tabletheorys_user() -> None:
    assert dms.diff(User, dms.load(_TT / "user.yml")) == []


def test_diff_lists_each_difference_when_the_model_differs() -> None:
    class Drifted(Model, table="users_drifted"):
        pk: Annotated[str, PK, Stored("PK")]
        sk: Annotated[int, SK, Stored("SK")]
        email_hash: Annotated[str | None, Stored("emailHash"), GSI("gsi-email", projection="KEYS_ONLY")] = (
            None
        )
        nickname: str = ""
        tags: Annotated[set[str] | None, OmitEmpty] = None
        created_at: Annotated[dt.datetime | None, CreatedAt, Stored("createdAt")] = None
        updated_at: Annotated[dt.datetime | None, Stored("updatedAt")] = None
        version: Annotated[int, Version] = 0
        extra: str | None = None

    assert dms.diff(Drifted, dms.load(_TT / "user.yml")) == [
        "table: 'users_drifted', the DMS says 'users_contract'",
        "sort key: SK (N), the DMS says SK (S)",
        "attribute 'ttl': only in the DMS",
        "attribute 'extra': only in the model",
        "attribute 'SK' type: 'N', the DMS says 'S'",
        "attribute 'SK' format: 'int', the DMS says ''",
        "attribute 'createdAt' format: '', the DMS says 'rfc3339nano'",
        "attribute 'nickname' omit_empty: False, the DMS says True",
        "attribute 'updatedAt' format: '', the DMS says 'rfc3339nano'",
        "attribute 'updatedAt' roles: (), the DMS says ('updated_at',)",
        "index 'gsi-email' projection: KEYS_ONLY, the DMS says ALL",
    ]
    assert "table" not in " ".join(dms.diff(Drifted, dms.load(_TT / "user.yml"), ignore_table=True))


def test_assert_equivalent_raises_dms_mismatch_carrying_the_differences_when_not_equivalent() -> None:
    spec = dms.describe(User)
    other = dms.ModelSpec(
        name=spec.name,
        table="elsewhere",
        naming=spec.naming,
        partition=spec.partition,
        sort=spec.sort,
        attributes=spec.attributes,
        indexes=(),
    )
    with pytest.raises(DmsMismatch) as info:
        dms.assert_equivalent(User, other)
    assert info.value.differences == [
        "table: 'users_contract', the DMS says 'elsewhere'",
        "index 'gsi-email': only in the model",
    ]
    assert isinstance(info.value, AssertionError)
    assert "User differs from its DMS model:\n  table:" in str(info.value)
    dms.assert_equivalent(User, spec)


def test_describe_maps_each_python_type_when_the_model_has_one_field_of_each_kind() -> None:
    spec = dms.describe(Wide)
    got = {a.attribute: (a.type, a.format, a.json, a.required) for a in spec.attributes}
    assert got == {
        "id": ("B", "", False, True),
        "at": ("N", "int", False, True),
        "name": ("S", "", False, True),
        "amount": ("N", "", False, False),
        "ok": ("BOOL", "", False, False),
        "data": ("B", "", False, False),
        "labels": ("SS", "", False, False),
        "counts": ("NS", "int", False, False),
        "ratios": ("NS", "", False, False),
        "blobs": ("BS", "", False, False),
        "items": ("L", "", False, False),
        "attrs": ("M", "", False, False),
        "payload": ("S", "", True, False),
        "seen": ("N", "unix_seconds", False, False),
        "stamp": ("S", "", False, False),  # aiotheory's fixed-microsecond text has no DMS format
        "expires": ("N", "unix_seconds", False, False),
    }
    assert spec.naming == "camelCase"
    assert spec.indexes == (
        dms.IndexSpec(
            name="by-seen",
            type="LSI",
            partition=dms.KeySpec("id", "B"),
            sort=dms.KeySpec("seen", "N"),
            projection="INCLUDE",
            fields=("name",),
        ),
    )


def test_describe_raises_validation_error_when_a_field_has_no_dms_type() -> None:
    class Loose(Model, table="loose"):
        id: Annotated[str, PK]
        anything: object = None

    with pytest.raises(ValidationError, match=r"Loose\.anything: a any value has no DMS type"):
        dms.describe(Loose)


# ------------------------------------------------------------------------------------------ export


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("model", [User, Wide])
def test_export_round_trips_when_loaded_back(model: type[Model], fmt: Any) -> None:
    text = dms.export(model, format=fmt, namespace="acme")
    assert text.startswith("{" if fmt == "json" else "dms_version:")
    doc = dms.loads(text)
    assert doc.namespace == "acme"
    assert dms.diff(model, doc) == []
    assert doc.models[0] == dms.describe(model)


def test_export_round_trips_tabletheorys_documents_when_given_their_specs() -> None:
    for name in ("user.yml", "order.yml"):
        doc = dms.load(_TT / name)
        again = dms.loads(dms.export(*doc.models, namespace=doc.namespace))
        for spec in doc.models:
            assert dms.diff(spec, again) == []


def test_export_raises_validation_error_when_given_no_model() -> None:
    with pytest.raises(ValidationError, match="at least one model"):
        dms.export()


# ------------------------------------------------------------------------------------------ python source


def test_python_source_imports_and_is_equivalent_when_written_to_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _base()
    raw["models"][0]["attributes"] += [
        {"attribute": "body", "type": "S", "json": True},
        {"attribute": "at", "type": "S", "format": "rfc3339nano"},
        {"attribute": "gone", "type": "NULL"},
        {"attribute": "tags", "type": "SS", "omit_empty": True},
    ]
    documents = [dms.parse(raw), dms.load(_TT / "user.yml"), dms.load(_TT / "order.yml")]
    monkeypatch.syspath_prepend(str(tmp_path))
    for i, doc in enumerate(documents):
        (tmp_path / f"dms_generated_{i}.py").write_text(dms.python_source(doc), encoding="utf-8")
        module = __import__(f"dms_generated_{i}")
        for spec in doc.models:
            dms.assert_equivalent(getattr(module, spec.name), spec)
            assert dms.describe(getattr(module, spec.name)) == dms.describe(dms.model_from_dms(spec))
        del sys.modules[f"dms_generated_{i}"]


# ------------------------------------------------------------------------------------------ the CLI


def test_cli_dms_validate_reports_each_file_and_exits_1_when_one_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_set(f"{_A}.2.type", "X")), encoding="utf-8")
    assert main(["dms", "validate", str(_TT / "user.yml")]) == 0
    assert capsys.readouterr().out.endswith("user.yml: ok (1 models: User)\n")
    assert main(["dms", "validate", str(_TT / "order.yml"), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("order.yml: ok (1 models: Order)")
    assert "bad.json: invalid:" in out[1]
    assert "unknown type 'X'" in out[1]


def _models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "dms_cli_models.py").write_text(
        "from tests.unit.test_dms import User\n\n__all__ = ['User']\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "dms_cli_models:User"


def test_cli_dms_diff_exits_1_with_the_differences_when_a_model_is_not_equivalent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _models_module(tmp_path, monkeypatch)
    assert main(["dms", "diff", str(_TT / "user.yml"), spec]) == 0
    assert capsys.readouterr().out == "User: equivalent\n"
    other = tmp_path / "other.json"
    raw = json.loads(dms.export(User, format="json"))
    raw["models"][0]["table"]["name"] = "people"
    other.write_text(json.dumps(raw), encoding="utf-8")
    assert main(["dms", "diff", str(other), spec]) == 1
    assert capsys.readouterr().out == (
        "User: differs from the DMS model\n  table: 'users_contract', the DMS says 'people'\n"
    )
    assert main(["dms", "diff", "--ignore-table", str(other), spec]) == 0
    capsys.readouterr()
    assert main(["dms", "diff", str(_TT / "order.yml"), spec]) == 2
    assert "has no model 'User'" in capsys.readouterr().err


def test_cli_dms_export_prints_a_document_that_loads_back_when_given_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _models_module(tmp_path, monkeypatch)
    assert main(["dms", "export", "--format", "json", "--namespace", "acme", spec]) == 0
    doc = dms.loads(capsys.readouterr().out)
    assert doc.namespace == "acme"
    assert dms.diff(User, doc) == []


def test_cli_dms_models_prints_source_that_is_equivalent_when_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dms", "models", str(_TT / "user.yml")]) == 0
    (tmp_path / "dms_cli_generated.py").write_text(capsys.readouterr().out, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import dms_cli_generated  # type: ignore[import-not-found]  # written just above

    dms.assert_equivalent(dms_cli_generated.User, dms.load(_TT / "user.yml"))
    assert dms.diff(dms_cli_generated.User, dms.describe(User)) == []


def test_cli_dms_validate_runs_as_a_module_when_invoked_with_python_m() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "aiotheory", "dms", "validate", str(_TT / "order.yml")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=_ROOT,
    )
    assert (done.returncode, done.stdout.strip()[-28:]) == (0, "order.yml: ok (1 models: Order)"[-28:])
