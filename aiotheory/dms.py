"""DMS v0.1, TableTheory's language-neutral schema document: parse, validate, build models, compare, export.

Parsing and validation import only the standard library (and PyYAML for YAML, the `aiotheory[dms]` extra);
pydantic and the model machinery load only when models are built or described. No I/O but reading the file
`load` is given; nothing of asyncio or transports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ._dms_spec import CAMEL as _CAMEL
from ._dms_spec import ROLES as _ROLES
from ._dms_spec import SNAKE as _SNAKE
from ._dms_spec import TYPES as _TYPES
from ._dms_spec import (
    VERSION,
    AttributeSpec,
    AttributeType,
    Document,
    IndexSpec,
    IndexType,
    KeySpec,
    KeyType,
    ModelSpec,
    Naming,
    Null,
    ProjectionType,
)
from .errors import DmsMismatch, MissingExtra, ValidationError

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    from .model import Model

__all__ = [
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

_KEY_TYPES: Final = ("S", "N", "B")
#: The formats DMS v0.1 names ("" for none).
_FORMATS: Final = ("", "rfc3339nano", "unix_seconds", "int")
_FORMAT_TYPES: Final = {"rfc3339nano": ("S",), "unix_seconds": ("N",), "int": ("N", "NS")}
_ROLE_TYPES: Final = {"created_at": ("S",), "updated_at": ("S",), "version": ("N",), "ttl": ("N",)}
_PROJECTIONS: Final = ("ALL", "KEYS_ONLY", "INCLUDE")
_NAMINGS: Final = ("camelCase", "snake_case")
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


# ------------------------------------------------------------------------------------------ DMS <-> python
# The work lives in `_dms_models`, imported on first call: reading a document needs no pydantic.


def model_from_dms(
    spec: ModelSpec | Document, name: str | None = None, *, module: str | None = None
) -> type[Model]:
    """The aiotheory Model class a DMS model describes; every field carries its explicit `Stored` name.

    Give a ModelSpec, or a Document and the model's `name` (optional when the document has one model).
    `module` becomes the class's `__module__` (default: `aiotheory.dms`). Built with
    `item_format="tabletheory"` and the document's naming convention.

    Raises:
        ValidationError: the model needs a feature this aiotheory lacks (the message names it).
    """
    from ._dms_models import build_model

    return build_model(spec, name, module=module)


def models_from_dms(document: Document, *, module: str | None = None) -> dict[str, type[Model]]:
    """A Model class per model of `document`, by model name, in document order."""
    from ._dms_models import build_models

    return build_models(document, module=module)


def python_source(document: Document) -> str:
    """Python source defining the document's models (what `python -m aiotheory dms models` prints)."""
    from ._dms_models import source_of

    return source_of(document)


def field_names(model: type[Model]) -> dict[str, str]:
    """Stored attribute name -> field name, for every stored field of a table model."""
    from ._dms_models import field_names_of

    return field_names_of(model)


def describe(model: type[Model]) -> ModelSpec:
    """The DMS description of a table model: what `diff` compares and `export` writes.

    Raises:
        ValidationError: a field has no DMS type (an untyped value or a custom Converter).
    """
    from ._dms_models import describe_model

    return describe_model(model)


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
