"""The DMS description `aiotheory.dms` reads into and writes from: frozen specs and the words of DMS v0.1.

Shared by `dms` (parsing, export, diff) and `_dms_models` (DMS <-> python); imports only the standard
library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from .errors import ValidationError

__all__ = [
    "CAMEL",
    "ROLES",
    "SNAKE",
    "TYPES",
    "VERSION",
    "AttributeSpec",
    "AttributeType",
    "Document",
    "IndexSpec",
    "IndexType",
    "KeySpec",
    "KeyType",
    "ModelSpec",
    "Naming",
    "Null",
    "ProjectionType",
    "model_dict",
]

KeyType = Literal["S", "N", "B"]
AttributeType = Literal["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]
IndexType = Literal["GSI", "LSI"]
ProjectionType = Literal["ALL", "KEYS_ONLY", "INCLUDE"]
Naming = Literal["camelCase", "snake_case"]

#: The one DMS version this module reads and writes.
VERSION: Final = "0.1"
TYPES: Final = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
ROLES: Final = ("pk", "sk", "created_at", "updated_at", "version", "ttl")
# DMS v0.1 "Attribute naming": the patterns a declared convention imposes; camelCase allows PK and SK.
CAMEL: Final = re.compile(r"[a-z][A-Za-z0-9]*|PK|SK")
SNAKE: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


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
        out["models"] = [model_dict(m) for m in self.models]
        return out


class Null:
    """The codec of a DMS `NULL` attribute: its only value is None, stored as `{"NULL": true}`."""

    __slots__ = ()

    def to_dynamo(self, value: object, /) -> dict[str, bool]:
        return {"NULL": True}

    def from_dynamo(self, av: object, /) -> None:
        return None

    def __repr__(self) -> str:
        return "Null()"


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


def model_dict(m: ModelSpec) -> dict[str, object]:
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
