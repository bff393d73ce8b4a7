"""DMS <-> python for `aiotheory.dms`: Model classes (and their source) from DMS models, and back.

Loaded only when a model is built or described, so reading a document imports no pydantic. Imports the
model layer; nothing of I/O, asyncio or transports.
"""

from __future__ import annotations

import json
import keyword
import operator
import re
import types
import typing
from typing import TYPE_CHECKING, Any, Final

from ._dms_spec import (
    CAMEL,
    ROLES,
    SNAKE,
    TYPES,
    AttributeSpec,
    Document,
    IndexSpec,
    KeySpec,
    ModelSpec,
    Null,
)
from .errors import ValidationError

if TYPE_CHECKING:
    from ._dms_spec import AttributeType, Naming
    from .model import Model
    from .schema import TableSchema

__all__ = ["build_model", "build_models", "describe_model", "field_names_of", "source_of"]

_NULL_TYPE: Final = type(None)
_NULL: Final = Null()

# ------------------------------------------------------------------------------------------ DMS -> python


# Every DMS model is built with TableTheory's item format (NULLs, RFC3339Nano) and the document's naming.
_ITEM_FORMAT: Final = "tabletheory"


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


_TYPE_SOURCE: Final = {
    "S": "str",
    "N": "Decimal",
    "B": "bytes",
    "BOOL": "bool",
    "SS": "set[str]",
    "NS": "set[Decimal]",
    "BS": "set[bytes]",
    "L": "list[Any]",
    "M": "dict[str, Any]",
}


def _drafts(spec: ModelSpec) -> list[_Draft]:
    from .model import (
        GSI,
        LSI,
        PK,
        SK,
        TTL,
        CreatedAt,
        Encrypted,
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
        d = _Draft(_field_name(a.attribute, taken, reserved))
        role = next((r for r in a.roles if r in ROLES), "")
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
            src = _TYPE_SOURCE[a.type]
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
            marks.append((Encrypted, "Encrypted"))
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


def build_model(
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


def build_models(document: Document, *, module: str | None = None) -> dict[str, type[Model]]:
    """A Model class per model of `document`, by model name, in document order."""
    return {m.name: build_model(m, module=module) for m in document.models}


def _import_order(name: str) -> tuple[bool, str]:
    return (not name.isupper(), name)


def source_of(document: Document) -> str:
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


def field_names_of(model: type[Model]) -> dict[str, str]:
    """Stored attribute name -> field name, for every stored field of a table model."""
    from .model import schema_of

    return {p.stored: p.name for p in schema_of(model).plans if not p.ignore}


def describe_model(model: type[Model]) -> ModelSpec:
    """The DMS description of a table model: what `diff` compares and `export` writes.

    Raises:
        ValidationError: a field has no DMS type (an untyped value or a custom Converter), or the model
            has key Templates, which DMS v0.1 cannot express.
    """
    from .model import PK as PK_
    from .model import SK as SK_
    from .model import TTL, CreatedAt, Encrypted, JSONString, RFC3339Nano, UpdatedAt, Version, schema_of

    schema: TableSchema[Any] = schema_of(model)
    # The document would still "match" the model (diff compares stored attributes only), but a model
    # built from it would take the rendered keys as plain fields the caller fills: refuse, rather than
    # describe it wrongly. (The discriminator is left out and documented: whether a table is shared
    # depends on which models the process defined, a DMS-built one included.)
    if schema.templated:
        raise ValidationError(
            f"{model.__name__}: DMS v0.1 cannot express key Templates "
            f"(keys and components: {', '.join(schema.template_attributes)}); write its document by hand"
        )
    role_names = {id(PK_): "pk", id(SK_): "sk", id(Version): "version", id(CreatedAt): "created_at"}
    role_names |= {id(UpdatedAt): "updated_at", id(TTL): "ttl"}
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
                encrypted=any(m is Encrypted for m in metadata),
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
    if all(CAMEL.fullmatch(n) for n in names):
        naming = "camelCase"
    elif all(SNAKE.fullmatch(n) for n in names):
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
    if head in TYPES:
        fmt = ""
        if (head == "N" and codec.py is int) or (
            head == "NS" and typing.get_args(_without_none(annotation)) == (int,)
        ):
            fmt = "int"
        return head, fmt  # type: ignore[return-value]  # checked against TYPES
    if label == "converted" and any(isinstance(m, Null) for m in metadata):
        return "NULL", ""
    raise ValidationError(f"{where}: a {label} value has no DMS type (give the field a typed annotation)")


def _without_none(annotation: object) -> object:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not _NULL_TYPE]
        if len(rest) == 1:
            return rest[0]
    return annotation
