"""DMS v0.1, TableTheory's language-neutral schema document: parse, validate, build models, compare, export.

Parsing and validation import only the standard library (and PyYAML for YAML, the `aiotheory[dms]` extra);
pydantic and the model machinery load only when models are built or described. No I/O but reading the file
`load` is given; nothing of asyncio or transports.
"""

from __future__ import annotations

import json
import keyword
import math
import operator
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from .errors import DmsMismatch, MissingExtra, ValidationError

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    from .model import Model
    from .schema import TableSchema

__all__ = [
    "AttributeSpec",
    "Document",
    "IndexSpec",
    "KeySpec",
    "ModelSpec",
    "Null",
    "assert_equivalent",
    "describe",
    "diff",
    "export",
    "field_names",
    "load",
    "loads",
    "model_from_dms",
    "models_from_dms",
    "parse",
    "python_source",
]

KeyType = Literal["S", "N", "B"]
AttributeType = Literal["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]
IndexType = Literal["GSI", "LSI"]
ProjectionType = Literal["ALL", "KEYS_ONLY", "INCLUDE"]
Naming = Literal["camelCase", "snake_case"]

#: The one DMS version this module reads and writes.
VERSION: Final = "0.1"
_KEY_TYPES: Final = ("S", "N", "B")
_TYPES: Final = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
#: The formats DMS v0.1 names ("" for none).
_FORMATS: Final = ("", "rfc3339nano", "unix_seconds", "int")
_FORMAT_TYPES: Final = {"rfc3339nano": ("S",), "unix_seconds": ("N",), "int": ("N", "NS")}
_ROLES: Final = ("pk", "sk", "created_at", "updated_at", "version", "ttl")
_ROLE_TYPES: Final = {"created_at": ("S",), "updated_at": ("S",), "version": ("N",), "ttl": ("N",)}
_PROJECTIONS: Final = ("ALL", "KEYS_ONLY", "INCLUDE")
_NAMINGS: Final = ("camelCase", "snake_case")
# DMS v0.1 "Attribute naming": the patterns a declared convention imposes; camelCase allows PK and SK.
_CAMEL: Final = re.compile(r"[a-z][A-Za-z0-9]*|PK|SK")
_SNAKE: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
# `tags` is DMS's extension metadata: accepted and ignored.
_ATTRIBUTE_KEYS: Final = frozenset(
    (
        "attribute",
        "type",
        "format",
        "roles",
        "required",
        "optional",
        "omit_empty",
        "json",
        "binary",
        "encryption",
        "tags",
    )
)


# ------------------------------------------------------------------------------------------ the description


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key attribute of a table or index: its stored name and scalar type."""

    attribute: str
    type: KeyType


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeSpec:
    """One stored attribute as the document declares it; `encrypted` is "the `encryption` object is set"."""

    attribute: str
    type: AttributeType
    format: str = ""
    roles: tuple[str, ...] = ()
    required: bool = False
    optional: bool = False
    omit_empty: bool = False
    encrypted: bool = False
    json: bool = False
    binary: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSpec:
    """A secondary index; `fields` are the stored names projected with projection INCLUDE."""

    name: str
    type: IndexType
    partition: KeySpec
    sort: KeySpec | None = None
    projection: ProjectionType = "ALL"
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """One model of a document: table, keys, attributes, indexes; `naming` is None when not declared."""

    name: str
    table: str
    naming: Naming | None
    partition: KeySpec
    sort: KeySpec | None
    attributes: tuple[AttributeSpec, ...]
    indexes: tuple[IndexSpec, ...] = ()

    def attribute(self, name: str) -> AttributeSpec:
        """The attribute stored as `name`; KeyError when the model declares none."""
        for a in self.attributes:
            if a.attribute == name:
                return a
        raise KeyError(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A validated DMS document: its version, namespace ("" when absent) and models, in document order."""

    dms_version: str
    namespace: str
    models: tuple[ModelSpec, ...]

    def model(self, name: str) -> ModelSpec:
        """The model named `name`; ValidationError naming the models there are otherwise."""
        for m in self.models:
            if m.name == name:
                return m
        names = ", ".join(m.name for m in self.models)
        raise ValidationError(f"the DMS document has no model {name!r} (it has {names})")

    def to_dict(self) -> dict[str, object]:
        """The document as the JSON object DMS v0.1 describes (what `export` writes)."""
        out: dict[str, object] = {"dms_version": self.dms_version}
        if self.namespace:
            out["namespace"] = self.namespace
        out["models"] = [_model_dict(m) for m in self.models]
        return out


# ------------------------------------------------------------------------------------------ reading


def load(path: str | os.PathLike[str]) -> Document:
    """Read and validate the DMS document at `path` (JSON when it ends in .json, YAML otherwise).

    Raises:
        ValidationError: the document is not valid DMS v0.1 (the message names the file and the path in it).
        MissingExtra: the file is YAML and PyYAML is not installed (`aiotheory[dms]`).
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        return loads(text, format="json" if p.suffix.lower() == ".json" else "yaml")
    except ValidationError as exc:
        raise ValidationError(f"{p}: {exc}") from None


def loads(text: str | bytes, *, format: Literal["yaml", "json"] | None = None) -> Document:
    """Parse and validate a DMS document given as text; `format=None` reads text opening with `{` as JSON."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if format is None:
        format = "json" if text.lstrip().startswith("{") else "yaml"
    if format == "json":
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from None
    else:
        yaml = _yaml()
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(f"not valid YAML: {exc}") from None
    return parse(raw)


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise MissingExtra(
            'reading or writing DMS as YAML needs PyYAML: pip install "aiotheory[dms]" (JSON needs nothing)',
            extra="dms",
            name="yaml",
        ) from exc
    return yaml


def parse(raw: object) -> Document:
    """Validate a parsed DMS object (what `json.loads` or `yaml.safe_load` returns) into a Document.

    Mirrors TableTheory's validator (version, models, keys declared as attributes, duplicate attributes,
    required with optional, json/binary types) and also refuses what aiotheory could not build: unknown
    types, formats, roles and keys, role and index conflicts, names against a declared convention.
    """
    _json_compatible(raw, "dms")
    top = _mapping(raw, "the document")
    version = top.get("dms_version")
    if not isinstance(version, str) or version != VERSION:
        raise ValidationError(f"unsupported dms_version: {version!r} (this reader knows {VERSION!r})")
    namespace = top.get("namespace", "")
    if namespace is None:
        namespace = ""
    if not isinstance(namespace, str):
        raise ValidationError("namespace must be a string")
    models_raw = top.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise ValidationError("a DMS document must include models[]")
    models = tuple(_model(m, f"models[{i}]") for i, m in enumerate(models_raw))
    seen: set[str] = set()
    for m in models:
        if m.name in seen:
            raise ValidationError(f"model {m.name}: declared twice")
        seen.add(m.name)
    return Document(dms_version=version, namespace=namespace, models=models)


def _json_compatible(value: object, path: str) -> None:
    # DMS v0.1 "Canonical format": the JSON-compatible subset of YAML (no timestamps, no non-string keys).
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"a non-finite number at {path}")
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _json_compatible(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(f"a non-string key {k!r} at {path}")
            _json_compatible(v, f"{path}.{k}")
        return
    raise ValidationError(f"a value that is not JSON ({type(value).__name__}) at {path}")


def _mapping(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be an object")
    return value


def _text(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}: missing {key}")
    return value


def _flag(obj: Mapping[str, object], key: str, where: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _key(value: object, where: str) -> KeySpec:
    obj = _mapping(value, where)
    attribute = _text(obj, "attribute", where)
    typ = obj.get("type")
    if typ not in _KEY_TYPES:
        raise ValidationError(f"{where}: key type must be one of {', '.join(_KEY_TYPES)}, not {typ!r}")
    return KeySpec(attribute, typ)


def _model(value: object, where: str) -> ModelSpec:
    obj = _mapping(value, where)
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{where}: a DMS model is missing its name")
    where = f"model {name}"
    table = _mapping(obj.get("table"), f"{where}: table")
    table_name = _text(table, "name", f"{where}: table")
    naming: Naming | None = None
    naming_raw = obj.get("naming")
    if naming_raw is not None:
        convention = _mapping(naming_raw, f"{where}: naming").get("convention")
        if convention is not None:
            if convention not in _NAMINGS:
                raise ValidationError(
                    f"{where}: naming.convention must be camelCase or snake_case, not {convention!r}"
                )
            naming = convention
    keys = _mapping(obj.get("keys"), f"{where}: keys")
    if keys.get("partition") is None:
        raise ValidationError(f"{where}: missing keys.partition")
    partition = _key(keys["partition"], f"{where}: keys.partition")
    sort = None if keys.get("sort") is None else _key(keys["sort"], f"{where}: keys.sort")
    attrs_raw = obj.get("attributes")
    if not isinstance(attrs_raw, list) or not attrs_raw:
        raise ValidationError(f"{where}: missing attributes[]")
    attributes = tuple(_attribute(a, f"{where}: attributes[{i}]") for i, a in enumerate(attrs_raw))
    indexes_raw = obj.get("indexes") or []
    if not isinstance(indexes_raw, list):
        raise ValidationError(f"{where}: indexes must be a list")
    indexes = tuple(_index(x, f"{where}: indexes[{i}]") for i, x in enumerate(indexes_raw))
    spec = ModelSpec(
        name=name,
        table=table_name,
        naming=naming,
        partition=partition,
        sort=sort,
        attributes=attributes,
        indexes=indexes,
    )
    _check_model(spec)
    return spec


def _attribute(value: object, where: str) -> AttributeSpec:
    obj = _mapping(value, where)
    name = obj.get("attribute")
    if not isinstance(name, str) or not name.strip() or not isinstance(obj.get("type"), str):
        raise ValidationError(f"{where}: attribute missing attribute/type")
    where = f"{where.partition(':')[0]}: attribute {name}"
    unknown = sorted(set(obj) - _ATTRIBUTE_KEYS)
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(unknown)}")
    typ = obj["type"]
    if typ not in _TYPES:
        raise ValidationError(f"{where}: unknown type {typ!r} (one of {', '.join(_TYPES)})")
    fmt = obj.get("format") or ""
    if fmt not in _FORMATS:
        raise ValidationError(
            f"{where}: unknown format {fmt!r} (one of {', '.join(f for f in _FORMATS if f)})"
        )
    if fmt and typ not in _FORMAT_TYPES[fmt]:
        raise ValidationError(f"{where}: format {fmt} does not apply to type {typ}")
    roles_raw = obj.get("roles") or []
    if not isinstance(roles_raw, list) or not all(isinstance(r, str) for r in roles_raw):
        raise ValidationError(f"{where}: roles must be a list of strings")
    for r in roles_raw:
        if r not in _ROLES and not r.startswith(("index_pk:", "index_sk:")):
            raise ValidationError(f"{where}: unknown role {r!r} (one of {', '.join(_ROLES)}, index_pk:NAME)")
    core = [r for r in roles_raw if r in _ROLES]
    if len(core) != len(set(core)):
        raise ValidationError(f"{where}: a role is given twice")
    if len(core) > 1:
        raise ValidationError(f"{where}: roles {', '.join(core)} conflict (one attribute holds one of them)")
    for r in core:
        allowed = _ROLE_TYPES.get(r)
        if allowed is not None and typ not in allowed:
            raise ValidationError(f"{where}: role {r} needs type {' or '.join(allowed)}, not {typ}")
    spec = AttributeSpec(
        attribute=name,
        type=typ,
        format=fmt,
        roles=tuple(sorted(roles_raw)),
        required=_flag(obj, "required", where),
        optional=_flag(obj, "optional", where),
        omit_empty=_flag(obj, "omit_empty", where),
        encrypted=obj.get("encryption") is not None,
        json=_flag(obj, "json", where),
        binary=_flag(obj, "binary", where),
    )
    if spec.required and spec.optional:
        raise ValidationError(f"{where}: cannot be both required and optional")
    if spec.json and spec.type != "S":
        raise ValidationError(f"{where}: json requires type S (got {spec.type})")
    if spec.binary and spec.type != "B":
        raise ValidationError(f"{where}: binary requires type B (got {spec.type})")
    if spec.json and spec.format:
        raise ValidationError(f"{where}: json and format {spec.format} cannot be combined")
    return spec


def _index(value: object, where: str) -> IndexSpec:
    obj = _mapping(value, where)
    name = _text(obj, "name", where)
    where = f"{where.partition(':')[0]}: index {name}"
    typ = obj.get("type")
    if typ not in ("GSI", "LSI"):
        raise ValidationError(f"{where}: type must be GSI or LSI, not {typ!r}")
    if obj.get("partition") is None:
        raise ValidationError(f"{where}: missing partition")
    partition = _key(obj["partition"], f"{where}: partition")
    sort = None if obj.get("sort") is None else _key(obj["sort"], f"{where}: sort")
    projection_raw = obj.get("projection")
    projection: object = "ALL"
    fields: object = []
    if projection_raw is not None:
        proj = _mapping(projection_raw, f"{where}: projection")
        projection = proj.get("type") or "ALL"
        fields = proj.get("fields") or []
    if projection not in _PROJECTIONS:
        raise ValidationError(f"{where}: projection type must be one of {', '.join(_PROJECTIONS)}")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ValidationError(f"{where}: projection.fields must be a list of attribute names")
    if projection == "INCLUDE" and not fields:
        raise ValidationError(f"{where}: projection INCLUDE needs fields")
    if projection != "INCLUDE" and fields:
        raise ValidationError(f"{where}: projection.fields is only allowed with projection INCLUDE")
    return IndexSpec(
        name=name,
        type=typ,
        partition=partition,
        sort=sort,
        projection=projection,
        fields=tuple(fields),
    )


def _check_model(m: ModelSpec) -> None:
    where = f"model {m.name}"
    by_name: dict[str, AttributeSpec] = {}
    for a in m.attributes:
        if a.attribute in by_name:
            raise ValidationError(f"{where}: duplicate attribute {a.attribute}")
        by_name[a.attribute] = a
        if m.naming is not None:
            pattern = _CAMEL if m.naming == "camelCase" else _SNAKE
            if pattern.fullmatch(a.attribute) is None:
                raise ValidationError(f"{where}: attribute {a.attribute} does not follow naming {m.naming}")

    def key_attr(key: KeySpec, what: str) -> AttributeSpec:
        a = by_name.get(key.attribute)
        if a is None:
            raise ValidationError(f"{where}: missing {what} attribute {key.attribute}")
        if a.type != key.type:
            raise ValidationError(
                f"{where}: {what} {key.attribute} is type {key.type}, the attribute says {a.type}"
            )
        if a.encrypted:
            raise ValidationError(f"{where}: {what} {key.attribute} cannot be encrypted")
        return a

    keys = {key_attr(m.partition, "partition key").attribute: "pk"}
    if m.sort is not None:
        if m.sort.attribute == m.partition.attribute:
            raise ValidationError(f"{where}: the sort key cannot be the partition key")
        keys[key_attr(m.sort, "sort key").attribute] = "sk"
    for a in m.attributes:
        key_role = keys.get(a.attribute)
        for role in ("pk", "sk"):
            if role in a.roles and key_role != role:
                raise ValidationError(f"{where}: attribute {a.attribute} has role {role} but is not that key")
        if key_role is not None:
            other = [r for r in a.roles if r in _ROLES and r != key_role]
            if other:
                raise ValidationError(
                    f"{where}: key attribute {a.attribute} cannot also have role {other[0]}"
                )
            if a.omit_empty:
                raise ValidationError(f"{where}: key attribute {a.attribute} cannot be omit_empty")
            if a.optional:
                raise ValidationError(f"{where}: key attribute {a.attribute} cannot be optional")
    index_names: set[str] = set()
    for ix in m.indexes:
        iw = f"{where}: index {ix.name}"
        if ix.name in index_names:
            raise ValidationError(f"{iw}: declared twice")
        index_names.add(ix.name)
        if ix.type == "LSI":
            if m.sort is None:
                raise ValidationError(f"{iw}: an LSI needs a table with a sort key")
            if ix.partition != m.partition:
                raise ValidationError(
                    f"{iw}: an LSI's partition key must be the table's ({m.partition.attribute})"
                )
            if ix.sort is None:
                raise ValidationError(f"{iw}: an LSI needs a sort key")
            if ix.sort.attribute in keys:
                raise ValidationError(f"{iw}: an LSI's sort key cannot be a table key")
        for key, what in ((ix.partition, "partition key"), (ix.sort, "sort key")):
            if key is not None:
                key_attr(key, f"index {ix.name} {what}")
        for f in ix.fields:
            if f not in by_name:
                raise ValidationError(f"{iw}: projection includes {f}, which is no declared attribute")


# ------------------------------------------------------------------------------------------ writing


def _key_dict(k: KeySpec) -> dict[str, object]:
    return {"attribute": k.attribute, "type": k.type}


def _attribute_dict(a: AttributeSpec) -> dict[str, object]:
    out: dict[str, object] = {"attribute": a.attribute, "type": a.type}
    if a.format:
        out["format"] = a.format
    if a.roles:
        out["roles"] = list(a.roles)
    for flag in ("required", "optional", "omit_empty", "json", "binary"):
        if getattr(a, flag):
            out[flag] = True
    if a.encrypted:
        out["encryption"] = {"v": 1}
    return out


def _model_dict(m: ModelSpec) -> dict[str, object]:
    out: dict[str, object] = {"name": m.name, "table": {"name": m.table}}
    if m.naming is not None:
        out["naming"] = {"convention": m.naming}
    keys: dict[str, object] = {"partition": _key_dict(m.partition)}
    if m.sort is not None:
        keys["sort"] = _key_dict(m.sort)
    out["keys"] = keys
    out["attributes"] = [_attribute_dict(a) for a in m.attributes]
    if m.indexes:
        indexes: list[dict[str, object]] = []
        for ix in m.indexes:
            entry: dict[str, object] = {
                "name": ix.name,
                "type": ix.type,
                "partition": _key_dict(ix.partition),
            }
            if ix.sort is not None:
                entry["sort"] = _key_dict(ix.sort)
            projection: dict[str, object] = {"type": ix.projection}
            if ix.fields:
                projection["fields"] = list(ix.fields)
            entry["projection"] = projection
            indexes.append(entry)
        out["indexes"] = indexes
    return out


def export(
    *models: type[Model] | ModelSpec,
    format: Literal["yaml", "json"] | None = None,
    namespace: str = "",
) -> str:
    """A DMS v0.1 document describing `models` (YAML when PyYAML is installed, else JSON, unless `format`).

    The document loads back into specs `diff` finds equivalent to the models.
    """
    if not models:
        raise ValidationError("export() needs at least one model")
    specs = tuple(m if isinstance(m, ModelSpec) else describe(m) for m in models)
    document = Document(dms_version=VERSION, namespace=namespace, models=specs)
    data = document.to_dict()
    if format is None:
        try:
            import yaml  # noqa: F401  # only asks whether PyYAML is there
        except ImportError:
            format = "json"
        else:
            format = "yaml"
    if format == "json":
        return json.dumps(data, indent=2) + "\n"
    dumped: str = _yaml().safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    return dumped


# ------------------------------------------------------------------------------------------ DMS -> python


# The one place that names the markers DMS features need beyond the core ones: `Encrypted` (field
# encryption) is looked up by name, so this module works before encryption exists and says so when a
# document asks for it. Every DMS model is built with item_format="tabletheory" (TableTheory's NULLs and
# RFC3339Nano) and the document's naming convention.
_ITEM_FORMAT: Final = "tabletheory"


def _optional_marker(name: str) -> object | None:
    from . import model

    return getattr(model, name, None)


def _needs(feature: str, marker: str, where: str) -> object:
    found = _optional_marker(marker)
    if found is None:
        raise ValidationError(
            f"{where}: {feature} needs aiotheory.{marker}, which this aiotheory does not have"
        )
    return found


class _Draft:
    """One field to build: its python name, annotation and default, as objects and as source text."""

    __slots__ = ("default", "default_src", "markers", "markers_src", "name", "tp", "tp_src")

    def __init__(self, name: str) -> None:
        self.name = name
        self.tp: object = object
        self.tp_src = "object"
        self.markers: list[object] = []
        self.markers_src: list[str] = []
        self.default: object = ...
        self.default_src = ""


def _field_name(attribute: str, taken: set[str], reserved: frozenset[str]) -> str:
    """A python field name for a stored attribute: snake_case, an identifier, free, and no BaseModel name."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", attribute)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"\W", "_", text).lower().strip("_") or "field"
    if text[0].isdigit():
        text = f"f_{text}"
    if keyword.iskeyword(text) or text in reserved or text.startswith("model_"):
        text += "_"
    name = text
    n = 2
    while name in taken:
        name = f"{text}_{n}"
        n += 1
    taken.add(name)
    return name


_SCALAR_TYPES: Final[dict[str, tuple[str, str]]] = {
    # DMS type -> (python type source, the module it needs: "" none, else "datetime" / "decimal" / "typing")
    "S": ("str", ""),
    "N": ("Decimal", "decimal"),
    "B": ("bytes", ""),
    "BOOL": ("bool", ""),
    "SS": ("set[str]", ""),
    "NS": ("set[Decimal]", "decimal"),
    "BS": ("set[bytes]", ""),
    "L": ("list[Any]", "typing"),
    "M": ("dict[str, Any]", "typing"),
}


def _drafts(spec: ModelSpec) -> list[_Draft]:
    from .model import (
        GSI,
        LSI,
        PK,
        SK,
        TTL,
        CreatedAt,
        EpochSeconds,
        JSONString,
        Model,
        OmitEmpty,
        RFC3339Nano,
        UpdatedAt,
        Version,
    )

    reserved = frozenset(dir(Model))
    taken: set[str] = set()
    markers_for: dict[str, list[tuple[object, str]]] = {a.attribute: [] for a in spec.attributes}
    for ix in spec.indexes:
        proj = "" if ix.projection == "ALL" else f", projection={_q(ix.projection)}"
        inc = f", include=[{', '.join(map(_q, ix.fields))}]" if ix.fields else ""
        if ix.type == "LSI":
            assert ix.sort is not None  # the validator requires it
            markers_for[ix.sort.attribute].append(
                (LSI(ix.name, projection=ix.projection, include=ix.fields), f"LSI({_q(ix.name)}{proj}{inc})")
            )
            continue
        markers_for[ix.partition.attribute].append(
            (
                GSI(ix.name, "pk", projection=ix.projection, include=ix.fields),
                f"GSI({_q(ix.name)}{proj}{inc})",
            )
        )
        if ix.sort is not None:
            markers_for[ix.sort.attribute].append(
                (
                    GSI(ix.name, "sk", projection=ix.projection, include=ix.fields),
                    f'GSI({_q(ix.name)}, "sk"{proj}{inc})',
                )
            )
    drafts: list[_Draft] = []
    for a in spec.attributes:
        where = f"model {spec.name}: attribute {a.attribute}"
        d = _Draft(_field_name(a.attribute, taken, reserved))
        role = next((r for r in a.roles if r in _ROLES), "")
        if a.attribute == spec.partition.attribute:
            role = "pk"
        elif spec.sort is not None and a.attribute == spec.sort.attribute:
            role = "sk"
        marks: list[tuple[object, str]] = []
        # The python type: the DMS type, refined by format and role.
        if a.json:
            d.tp, d.tp_src = object, "object"
            marks.append((JSONString, "JSONString"))
        elif a.type == "NULL":
            d.tp, d.tp_src = _NULL_TYPE, "None"
            marks.append((_NULL, "Null()"))
        elif a.format == "rfc3339nano":
            from datetime import datetime

            d.tp, d.tp_src = datetime, "datetime"
            marks.append((RFC3339Nano, "RFC3339Nano"))
        elif a.format == "unix_seconds":
            if role == "ttl":
                d.tp, d.tp_src = int, "int"
            else:
                from datetime import datetime

                d.tp, d.tp_src = datetime, "datetime"
                marks.append((EpochSeconds, "EpochSeconds"))
        elif a.format == "int":
            d.tp, d.tp_src = (int, "int") if a.type == "N" else (set[int], "set[int]")
        else:
            src = _SCALAR_TYPES[a.type][0]
            d.tp, d.tp_src = _python_type(a.type), src
        role_marker = {
            "pk": (PK, "PK"),
            "sk": (SK, "SK"),
            "version": (Version, "Version"),
            "created_at": (CreatedAt, "CreatedAt"),
            "updated_at": (UpdatedAt, "UpdatedAt"),
            "ttl": (TTL, "TTL"),
        }.get(role)
        if role_marker is not None:
            marks.insert(0, role_marker)
        marks.append((_stored(a.attribute), f"Stored({_q(a.attribute)})"))
        marks.extend(markers_for[a.attribute])
        if a.omit_empty:
            marks.append((OmitEmpty, "OmitEmpty"))
        if a.encrypted:
            marks.append((_needs("encryption", "Encrypted", where), "Encrypted"))
        # Keys and required attributes have no default; the version starts at 0; the rest may be absent.
        if role in ("pk", "sk") or (a.required and role not in ("version", "created_at", "updated_at")):
            pass
        elif role == "version":
            d.default, d.default_src = 0, "0"
        else:
            if a.type != "NULL":
                d.tp_src = f"{d.tp_src} | None"
                d.tp = d.tp | None  # type: ignore[operator]  # a runtime union of a type and None
            d.default, d.default_src = None, "None"
        d.markers = [m for m, _ in marks]
        d.markers_src = [s for _, s in marks]
        drafts.append(d)
    return drafts


def _q(text: str) -> str:
    """`text` as a python string literal in double quotes (JSON's escapes are python's too)."""
    return json.dumps(text)


def _stored(name: str) -> object:
    from .model import Stored

    return Stored(name)


def _python_type(dms_type: str) -> object:
    from decimal import Decimal

    return {
        "S": str,
        "N": Decimal,
        "B": bytes,
        "BOOL": bool,
        "SS": set[str],
        "NS": set[Decimal],
        "BS": set[bytes],
        "L": list[Any],
        "M": dict[str, Any],
    }[dms_type]


_NULL_TYPE: Final = type(None)


class Null:
    """The codec of a DMS `NULL` attribute: its only value is None, stored as `{"NULL": true}`."""

    __slots__ = ()

    def to_dynamo(self, value: object, /) -> dict[str, bool]:
        return {"NULL": True}

    def from_dynamo(self, av: object, /) -> None:
        return None

    def __repr__(self) -> str:
        return "Null()"


_NULL: Final = Null()


def model_from_dms(
    spec: ModelSpec | Document, name: str | None = None, *, module: str | None = None
) -> type[Model]:
    """The aiotheory Model class a DMS model describes; every field carries its explicit `Stored` name.

    Give a ModelSpec, or a Document and the model's `name` (optional when the document has one model).
    `module` becomes the class's `__module__` (default: `aiotheory.dms`).

    Raises:
        ValidationError: the model needs a feature this aiotheory lacks (the message names it).
    """
    if isinstance(spec, Document):
        if name is None:
            if len(spec.models) != 1:
                raise ValidationError(
                    "model_from_dms(document) needs a name: the document has several models"
                )
            spec = spec.models[0]
        else:
            spec = spec.model(name)
    from typing import Annotated

    from pydantic import create_model

    from .model import Model

    fields: dict[str, Any] = {}
    for d in _drafts(spec):
        # Annotated[tp, *markers] built at run time; a checker cannot follow a computed annotation.
        annotation = operator.getitem(Annotated, (d.tp, *d.markers))
        fields[d.name] = (annotation, d.default)
    cls: type[Model] = create_model(
        spec.name,
        __base__=Model,
        __module__=module or __name__,
        __cls_kwargs__={"table": spec.table, "naming": spec.naming, "item_format": _ITEM_FORMAT},
        **fields,
    )
    return cls


def models_from_dms(document: Document, *, module: str | None = None) -> dict[str, type[Model]]:
    """A Model class per model of `document`, by model name, in document order."""
    return {m.name: model_from_dms(m, module=module) for m in document.models}


def _import_order(name: str) -> tuple[bool, str]:
    return (not name.isupper(), name)


def python_source(document: Document) -> str:
    """Python source defining the document's models (what `python -m aiotheory dms models` prints)."""
    needs: set[str] = set()
    names: set[str] = {"Annotated", "Model", "Stored"}
    classes: list[str] = []
    for spec in document.models:
        naming = "" if spec.naming is None else f", naming={_q(spec.naming)}"
        lines = [f"class {spec.name}(Model, table={_q(spec.table)}{naming}, item_format={_q(_ITEM_FORMAT)}):"]
        for d in _drafts(spec):
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d.tp_src):
                if word in ("Decimal", "datetime", "Any"):
                    needs.add(word)
            for src in d.markers_src:
                names.add(src.partition("(")[0])
            annotation = f"Annotated[{', '.join([d.tp_src, *d.markers_src])}]"
            default = f" = {d.default_src}" if d.default_src else ""
            lines.append(f"    {d.name}: {annotation}{default}")
        classes.append("\n".join(lines))
    header = [
        f'"""Models of the DMS document{f" {document.namespace}" if document.namespace else ""}.',
        "",
        "Generated by `python -m aiotheory dms models`; every field names its stored attribute.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    if "datetime" in needs:
        header.append("from datetime import datetime")
    if "Decimal" in needs:
        header.append("from decimal import Decimal")
    header.append("from typing import Annotated, Any" if "Any" in needs else "from typing import Annotated")
    header.append("")
    dms_names = sorted(n for n in names if n == "Null")
    # isort's order (ruff's default): CONSTANTS, then Classes.
    aio_names = sorted(names - set(dms_names) - {"Annotated"}, key=_import_order)
    header.append(f"from aiotheory import {', '.join(aio_names)}")
    if dms_names:
        header.append("from aiotheory.dms import Null")
    all_line = "__all__ = [" + ", ".join(_q(m.name) for m in document.models) + "]"
    return "\n".join([*header, "", all_line, "", "", "\n\n\n".join(classes)]) + "\n"


# ------------------------------------------------------------------------------------------ python -> DMS


def field_names(model: type[Model]) -> dict[str, str]:
    """Stored attribute name -> field name, for every stored field of a table model."""
    from .model import schema_of

    return {p.stored: p.name for p in schema_of(model).plans if not p.ignore}


def describe(model: type[Model]) -> ModelSpec:
    """The DMS description of a table model: what `diff` compares and `export` writes.

    Raises:
        ValidationError: a field has no DMS type (an untyped value or a custom Converter).
    """
    from .model import PK as PK_
    from .model import SK as SK_
    from .model import TTL, CreatedAt, JSONString, RFC3339Nano, UpdatedAt, Version, schema_of

    schema: TableSchema[Any] = schema_of(model)
    role_names = {id(PK_): "pk", id(SK_): "sk", id(Version): "version", id(CreatedAt): "created_at"}
    role_names |= {id(UpdatedAt): "updated_at", id(TTL): "ttl"}
    encrypted_marker = _optional_marker("Encrypted")
    # TableTheory's item format stores every plain datetime as RFC3339Nano.
    nano_default = getattr(model.__aiotheory__, "item_format", "aiotheory") == "tabletheory"
    attributes: list[AttributeSpec] = []
    for p in schema.plans:
        if p.ignore:
            continue
        where = f"{model.__name__}.{p.name}"
        metadata = p.info.metadata
        roles = tuple(sorted(role_names[id(r)] for r in p.roles))
        typ, fmt = _dms_type(p.codec, p.annotation, metadata, where)
        is_json = any(m is JSONString for m in metadata)
        if fmt == "rfc3339":
            # aiotheory's own fixed-microsecond text has no DMS format: it is described as a plain S.
            fmt = "rfc3339nano" if nano_default or any(m is RFC3339Nano for m in metadata) else ""
        if fmt == "epoch" or (typ == "N" and "ttl" in roles):
            fmt = "unix_seconds"  # TTL is whole epoch seconds, whether the field is an int or a datetime
        key = "pk" in roles or "sk" in roles
        required = key or p.info.is_required()
        attributes.append(
            AttributeSpec(
                attribute=p.stored,
                type=typ,
                format=fmt,
                roles=roles,
                required=required,
                optional=not required and not (set(roles) & {"version", "created_at", "updated_at"}),
                omit_empty=p.omit_empty,
                encrypted=encrypted_marker is not None and any(m is encrypted_marker for m in metadata),
                json=is_json,
                binary=False,
            )
        )
    indexes = tuple(
        IndexSpec(
            name=ix.name,
            type=ix.kind,
            partition=KeySpec(ix.pk.stored, ix.pk.type),
            sort=None if ix.sk is None else KeySpec(ix.sk.stored, ix.sk.type),
            projection=ix.projection,
            fields=ix.include,
        )
        for ix in schema.indexes
    )
    names = [a.attribute for a in attributes]
    naming: Naming | None = None
    if all(_CAMEL.fullmatch(n) for n in names):
        naming = "camelCase"
    elif all(_SNAKE.fullmatch(n) for n in names):
        naming = "snake_case"
    return ModelSpec(
        name=model.__name__,
        table=schema.table,
        naming=naming,
        partition=KeySpec(schema.pk.stored, schema.pk.type),
        sort=None if schema.sk is None else KeySpec(schema.sk.stored, schema.sk.type),
        attributes=tuple(attributes),
        indexes=indexes,
    )


def _dms_type(codec: Any, annotation: object, metadata: list[Any], where: str) -> tuple[AttributeType, str]:
    """(DMS type, format) of a field from its codec's label; "epoch" stands for unix_seconds."""
    from .codec._types import JSON

    label: str = codec.label
    if codec is JSON:
        return "S", ""
    if label.startswith("S (RFC 3339"):
        return "S", "rfc3339"
    if label.startswith("N (epoch seconds"):
        return "N", "epoch"
    head = label.split(" ", 1)[0]
    if head in _TYPES:
        fmt = ""
        if (head == "N" and codec.py is int) or (
            head == "NS" and typing.get_args(_without_none(annotation)) == (int,)
        ):
            fmt = "int"
        return head, fmt  # type: ignore[return-value]  # checked against _TYPES
    if label == "converted" and any(isinstance(m, Null) for m in metadata):
        return "NULL", ""
    raise ValidationError(f"{where}: a {label} value has no DMS type (give the field a typed annotation)")


def _without_none(annotation: object) -> object:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not _NULL_TYPE]
        if len(rest) == 1:
            return rest[0]
    return annotation


# ------------------------------------------------------------------------------------------ equivalence


def _normal_roles(a: AttributeSpec, m: ModelSpec) -> tuple[str, ...]:
    # Index roles are what `indexes` says; pk/sk are implied by `keys` (documents may leave them out).
    roles = {r for r in a.roles if r in _ROLES}
    if a.attribute == m.partition.attribute:
        roles.add("pk")
    if m.sort is not None and a.attribute == m.sort.attribute:
        roles.add("sk")
    return tuple(sorted(roles))


def _spec_of(obj: type[Model] | ModelSpec) -> ModelSpec:
    return obj if isinstance(obj, ModelSpec) else describe(obj)


def diff(
    model: type[Model] | ModelSpec,
    expected: ModelSpec | Document,
    *,
    ignore_table: bool = False,
) -> list[str]:
    """The differences between `model` and the DMS model `expected` (by name in a Document); [] when equal.

    Compared: table name, keys, every attribute's stored name, type, format, roles, whether it is
    required, omit_empty, encrypted and json, and every index with its projection. Not compared: the
    naming convention and `binary` (the stored names and the type B say it) and `optional`.
    """
    got = _spec_of(model)
    if isinstance(expected, Document):
        expected = expected.model(got.name) if len(expected.models) != 1 else expected.models[0]
    want = expected
    out: list[str] = []
    if not ignore_table and got.table != want.table:
        out.append(f"table: {got.table!r}, the DMS says {want.table!r}")
    for what, g, w in (("partition key", got.partition, want.partition), ("sort key", got.sort, want.sort)):
        if g != w:
            out.append(f"{what}: {_key_text(g)}, the DMS says {_key_text(w)}")
    have = {a.attribute: a for a in got.attributes}
    need = {a.attribute: a for a in want.attributes}
    out.extend(f"attribute {name!r}: only in the DMS" for name in sorted(need.keys() - have.keys()))
    out.extend(f"attribute {name!r}: only in the model" for name in sorted(have.keys() - need.keys()))
    for name in sorted(have.keys() & need.keys()):
        g_a, w_a = have[name], need[name]
        pairs: list[tuple[str, object, object]] = [
            ("type", g_a.type, w_a.type),
            ("format", g_a.format, w_a.format),
            ("roles", _normal_roles(g_a, got), _normal_roles(w_a, want)),
            ("required", g_a.required, w_a.required),
            ("omit_empty", g_a.omit_empty, w_a.omit_empty),
            ("encrypted", g_a.encrypted, w_a.encrypted),
            ("json", g_a.json, w_a.json),
        ]
        for prop, gv, wv in pairs:
            if gv != wv:
                out.append(f"attribute {name!r} {prop}: {gv!r}, the DMS says {wv!r}")
    g_ix = {ix.name: ix for ix in got.indexes}
    w_ix = {ix.name: ix for ix in want.indexes}
    out.extend(f"index {name!r}: only in the DMS" for name in sorted(w_ix.keys() - g_ix.keys()))
    out.extend(f"index {name!r}: only in the model" for name in sorted(g_ix.keys() - w_ix.keys()))
    for name in sorted(g_ix.keys() & w_ix.keys()):
        gi, wi = g_ix[name], w_ix[name]
        for prop, gv, wv in (
            ("type", gi.type, wi.type),
            ("partition key", _key_text(gi.partition), _key_text(wi.partition)),
            ("sort key", _key_text(gi.sort), _key_text(wi.sort)),
            ("projection", gi.projection, wi.projection),
            ("projected fields", sorted(gi.fields), sorted(wi.fields)),
        ):
            if gv != wv:
                out.append(f"index {name!r} {prop}: {gv}, the DMS says {wv}")
    return out


def _key_text(k: KeySpec | None) -> str:
    return "none" if k is None else f"{k.attribute} ({k.type})"


def assert_equivalent(
    model: type[Model] | ModelSpec, expected: ModelSpec | Document, *, ignore_table: bool = False
) -> None:
    """Raise DmsMismatch listing every difference unless `model` is equivalent to `expected` (see `diff`)."""
    differences = diff(model, expected, ignore_table=ignore_table)
    if differences:
        name = model.name if isinstance(model, ModelSpec) else model.__name__
        raise DmsMismatch(name, differences)
