"""The definition rules: what a model class may declare, checked once when the class is created.

`field_plans(cls)` reads each field's markers and picks its codec; `layout_of(cls, table, plans)` finds
the keys, indexes and special fields. Both raise ValidationError naming the class and field. No I/O.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Union

from ._model_markers import (
    GSI,
    LSI,
    PK,
    SK,
    TTL,
    CreatedAt,
    Encrypted,
    EpochSeconds,
    Ignore,
    OmitEmpty,
    Stored,
    UpdatedAt,
    Version,
)
from .codec._model import FieldPlan
from .codec._types import JSON, converter_codec, markers_of, type_codec
from .errors import ValidationError
from .schema import FieldRef, IndexSchema, KeyAttr, Layout

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic.fields import FieldInfo

__all__ = [
    "HOOK_NAMES",
    "ITEM_FORMATS",
    "NAMINGS",
    "Hooks",
    "ItemFormat",
    "Naming",
    "check_table_name",
    "field_plans",
    "hooks_of",
    "layout_of",
    "stored_name",
]

Naming = Literal["camelCase", "snake_case"]
ItemFormat = Literal["aiotheory", "tabletheory"]
NAMINGS: Final = ("camelCase", "snake_case")
ITEM_FORMATS: Final = ("aiotheory", "tabletheory")

_NONE_TYPE: Final = type(None)

# DynamoDB's table naming rule (CreateTable): 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'.
_TABLE_NAME: Final = re.compile(r"[a-zA-Z0-9_.-]+")
_TABLE_MIN: Final = 3
_TABLE_MAX: Final = 255


#: The lifecycle hooks a model may declare as methods (`def` or `async def`), found at class creation.
HOOK_NAMES: Final = ("before_write", "after_read", "after_write", "before_delete")


class Hooks:
    """The lifecycle hooks one model class declares: each `(function, is_async)`, or None.

    A class that declares none has no Hooks at all (`__aiotheory__.hooks` is None), so every
    operation's check is one attribute read; never mutated.
    """

    __slots__ = HOOK_NAMES

    before_write: tuple[Callable[[Any], object], bool] | None
    after_read: tuple[Callable[[Any], object], bool] | None
    after_write: tuple[Callable[[Any], object], bool] | None
    before_delete: tuple[Callable[[Any], object], bool] | None

    def __init__(self, found: dict[str, tuple[Callable[[Any], object], bool]]) -> None:
        for name in HOOK_NAMES:
            object.__setattr__(self, name, found.get(name))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Hooks is immutable: cannot set {name!r}")


def hooks_of(cls: type) -> Hooks | None:
    """The hooks `cls` declares or inherits; None when it has none (the fast path)."""
    found: dict[str, tuple[Callable[[Any], object], bool]] = {}
    for name in HOOK_NAMES:
        fn = inspect.getattr_static(cls, name, None)
        if fn is None:
            continue
        if isinstance(fn, staticmethod | classmethod) or not callable(fn):
            raise ValidationError(
                f"{cls.__name__}.{name}: a lifecycle hook is a plain method (def or async def)"
            )
        found[name] = (fn, inspect.iscoroutinefunction(fn))
    return Hooks(found) if found else None


def check_table_name(where: str, table: str) -> None:
    """Raise ValidationError (naming `where`) unless `table` follows DynamoDB's table naming rules.

    Run on a model's own name at class creation, and on the prefixed name before CreateTable: a
    prefix may make a legal name too long, which only the DB that adds it can know.
    """
    if _TABLE_NAME.fullmatch(table) is None:
        raise ValidationError(
            f"{where}: table name {table!r} may hold only letters, digits, '_', '-' and '.' (DynamoDB's rule)"
        )
    if not _TABLE_MIN <= len(table) <= _TABLE_MAX:
        raise ValidationError(
            f"{where}: table name {table!r} has {len(table)} characters; DynamoDB needs "
            f"{_TABLE_MIN} to {_TABLE_MAX}"
        )


# ------------------------------------------------------------------------------------------ naming

# TableTheory's attribute name rules (pkg/naming): camelCase allows "PK" and "SK" as they are.
_CAMEL: Final = re.compile(r"[a-z][A-Za-z0-9]*")
_SNAKE: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_KEPT: Final = frozenset({"PK", "SK"})


def _lower_head(word: str) -> str:
    """TableTheory's camelCase head: lower the leading capitals, keeping the last one of a run that
    starts the next word ("URLValue" -> "urlValue", "ID" -> "id", "Email" -> "email")."""
    if len(word) <= 1:
        return word.lower()
    end = 1
    while end < len(word) and word[end].isupper():
        if end + 1 < len(word) and not word[end + 1].isupper():
            break
        end += 1
    return word[:end].lower() + word[end:]


def _camel(name: str) -> str:
    if name in _KEPT:
        return name
    words = [w for w in name.split("_") if w]
    if not words:
        return name
    return _lower_head(words[0]) + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _snake(name: str) -> str:
    # TableTheory's ToSnakeCase: a capital starts a word after a lower-case letter, or ends an acronym
    # before a lower-case letter ("UserID" -> "user_id", "URLValue" -> "url_value"); digits never split.
    out: list[str] = []
    last = len(name) - 1
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            prev = name[i - 1]
            next_lower = i < last and name[i + 1].islower()
            if not prev.isdigit() and (prev.islower() or (prev.isupper() and next_lower)):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)


def stored_name(field: str, naming: Naming) -> str:
    """The attribute name TableTheory derives from field name `field` under `naming`."""
    return _camel(field) if naming == "camelCase" else _snake(field)


def _check_stored(where: str, stored: str, naming: Naming) -> None:
    if naming == "camelCase":
        if stored in _KEPT or _CAMEL.fullmatch(stored):
            return
        raise ValidationError(
            f"{where}: attribute name {stored!r} is not camelCase ([a-z][A-Za-z0-9]*, or PK / SK), "
            "as naming='camelCase' requires"
        )
    if _SNAKE.fullmatch(stored) is None:
        raise ValidationError(
            f"{where}: attribute name {stored!r} is not snake_case ([a-z][a-z0-9]*(_[a-z0-9]+)*), "
            "as naming='snake_case' requires"
        )


# ------------------------------------------------------------------------------------------ field plans


def _strip_optional(tp: object) -> tuple[object, bool]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = typing.get_args(tp)
        rest = tuple(a for a in args if a is not _NONE_TYPE)
        if len(rest) != len(args):
            return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007  # rebuilds a union
    return tp, False


_ROLE_IDS: Final = frozenset(map(id, (PK, SK, Version, CreatedAt, UpdatedAt, TTL)))


def field_plans(
    cls: type, *, naming: Naming | None = None, item_format: ItemFormat = "aiotheory"
) -> tuple[FieldPlan, ...]:
    """Read every field's markers and pick its codec; raises ValidationError naming class and field.

    `naming` derives each stored name from the field name (an explicit `Stored` wins; both are checked
    against the convention); `item_format="tabletheory"` stores plain datetimes as RFC3339Nano.
    """
    fields: dict[str, FieldInfo] = cls.__pydantic_fields__  # type: ignore[attr-defined]  # a pydantic model
    plans: list[FieldPlan] = []
    tabletheory = item_format == "tabletheory"
    for name, info in fields.items():
        where = f"{cls.__name__}.{name}"
        stored = name if naming is None else stored_name(name, naming)
        ignore = omit_empty = encrypted = False
        roles: set[object] = set()
        indexes: list[GSI | LSI] = []
        metadata = info.metadata
        for m in metadata:
            if isinstance(m, Stored):
                if not m.name:
                    raise ValidationError(f"{where}: Stored() needs a non-empty attribute name")
                stored = m.name
            elif m is Ignore:
                ignore = True
            elif m is OmitEmpty:
                omit_empty = True
            elif m is Encrypted:
                encrypted = True
            elif isinstance(m, GSI | LSI):
                indexes.append(m)
            elif id(m) in _ROLE_IDS:
                if m in roles:
                    raise ValidationError(f"{where}: marker {m!r} is given twice")
                roles.add(m)
        annotation = info.annotation
        inner, optional = _strip_optional(annotation)
        epoch, json_, conv, nano = markers_of(metadata) if metadata else (False, False, None, False)
        if nano and EpochSeconds in metadata:
            raise ValidationError(f"{where}: RFC3339Nano and EpochSeconds ask for two storage formats")
        try:
            if conv is not None:
                codec = converter_codec(conv)
            elif json_:
                codec = JSON
            else:
                is_ttl = TTL in roles
                codec = type_codec(
                    inner, epoch=epoch and not is_ttl, ttl=is_ttl, nano=nano or (tabletheory and not epoch)
                )
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}") from None
        if naming is not None and not ignore:
            _check_stored(where, stored, naming)
        if ignore:
            if info.is_required():
                raise ValidationError(f"{where}: an Ignore field needs a default (it is never read)")
            if roles or indexes:
                raise ValidationError(f"{where}: an Ignore field cannot be a key, index key or special field")
        if encrypted and (roles or indexes):
            # The stored value is a fresh envelope per write: DynamoDB could neither key, index nor
            # compare it, and a key in the clear would defeat the encryption (TableTheory refuses it too).
            raise ValidationError(
                f"{where}: an Encrypted field cannot be a key, an index key or a special field"
            )
        if encrypted and ignore:
            raise ValidationError(
                f"{where}: an Ignore field is never written; Encrypted makes no sense on it"
            )
        if omit_empty and codec.empty is None:
            raise ValidationError(
                f"{where}: OmitEmpty applies to str, bytes, list, dict, set, int, float, Decimal, bool and "
                f"datetime fields only (a {codec.label} value has no empty value)"
            )
        plans.append(
            FieldPlan(
                name=name,
                stored=stored,
                codec=codec,
                optional=optional,
                ignore=ignore,
                omit_empty=omit_empty,
                roles=frozenset(roles),
                indexes=tuple(indexes),
                info=info,
                annotation=annotation,
            )
        )
    seen: dict[str, str] = {}
    for p in plans:
        if p.ignore:
            continue
        other = seen.setdefault(p.stored, p.name)
        if other != p.name:
            raise ValidationError(
                f"{cls.__name__}.{p.name}: stored attribute name {p.stored!r} is used by field {other!r} too"
            )
    return tuple(plans)


# ------------------------------------------------------------------------------------------ model codec


# ------------------------------------------------------------------------------------------ layout


_KEY_HELP: Final = "keys hold str, int, Decimal, bytes, UUID, datetime, date or a str/int Enum"


def _key_attr(cls: type, plan: FieldPlan, what: str, *, allow_optional: bool) -> KeyAttr:
    where = f"{cls.__name__}.{plan.name}"
    if plan.optional and not allow_optional:
        raise ValidationError(f"{where}: the {what} cannot be optional")
    codec = plan.codec
    if codec.is_float:
        raise ValidationError(
            f"{where}: a float cannot be the {what} (floats do not round-trip exactly; use int, Decimal, str)"
        )
    if codec.key_type is None:
        raise ValidationError(f"{where}: a {codec.label} value cannot be the {what}; {_KEY_HELP}")
    return KeyAttr(plan.name, plan.stored, codec.key_type)


def _single(cls: type, plans: tuple[FieldPlan, ...], marker: object) -> FieldPlan | None:
    found: FieldPlan | None = None
    for p in plans:
        if marker in p.roles:
            if found is not None:
                raise ValidationError(
                    f"{cls.__name__}.{p.name}: a second {marker!r} field ({found.name} is one)"
                )
            found = p
    return found


def layout_of(cls: type, table: str | None, plans: tuple[FieldPlan, ...]) -> Layout:
    name = cls.__name__
    pk_plan = _single(cls, plans, PK)
    sk_plan = _single(cls, plans, SK)
    if pk_plan is not None and pk_plan is sk_plan:
        raise ValidationError(f"{name}.{pk_plan.name}: a field cannot be both PK and SK")
    if table is not None and pk_plan is None:
        raise ValidationError(f"{name}: table {table!r} needs one field marked PK (Annotated[str, PK])")
    pk = _key_attr(cls, pk_plan, "partition key (PK)", allow_optional=False) if pk_plan else None
    sk = _key_attr(cls, sk_plan, "sort key (SK)", allow_optional=False) if sk_plan else None

    version = _single(cls, plans, Version)
    if version is not None and (version.codec.py is not int or version.optional):
        raise ValidationError(f"{name}.{version.name}: a Version field must be an int (not optional)")
    stamps: list[FieldRef | None] = []
    for marker in (CreatedAt, UpdatedAt):
        p = _single(cls, plans, marker)
        if p is not None and p.codec.py is not datetime:
            raise ValidationError(
                f"{name}.{p.name}: a {marker!r} field must be a datetime (or datetime | None)"
            )
        stamps.append(FieldRef(p.name, p.stored) if p else None)
    ttl = _single(cls, plans, TTL)
    if ttl is not None and ttl.codec.py not in (datetime, int):
        raise ValidationError(f"{name}.{ttl.name}: a TTL field must be a datetime or an int")

    indexes = _indexes(cls, table, plans, pk, sk)
    return Layout(
        pk=pk,
        sk=sk,
        indexes=indexes,
        version=FieldRef(version.name, version.stored) if version else None,
        created_at=stamps[0],
        updated_at=stamps[1],
        ttl=FieldRef(ttl.name, ttl.stored) if ttl else None,
    )


def _indexes(
    cls: type,
    table: str | None,
    plans: tuple[FieldPlan, ...],
    pk: KeyAttr | None,
    sk: KeyAttr | None,
) -> tuple[IndexSchema, ...]:
    name = cls.__name__
    by_stored = {p.stored: p.stored for p in plans if not p.ignore}
    by_field = {p.name: p.stored for p in plans if not p.ignore}
    gsi: dict[str, dict[str, tuple[FieldPlan, GSI]]] = {}
    lsi: dict[str, tuple[FieldPlan, LSI]] = {}
    order: list[str] = []
    for p in plans:
        for marker in p.indexes:
            where = f"{name}.{p.name}"
            if isinstance(marker, LSI):
                if marker.name in lsi:
                    raise ValidationError(f"{where}: LSI {marker.name!r} is declared twice")
                if marker.name in gsi:
                    raise ValidationError(f"{where}: index name {marker.name!r} is used by a GSI too")
                lsi[marker.name] = (p, marker)
            else:
                if marker.name in lsi:
                    raise ValidationError(f"{where}: index name {marker.name!r} is used by an LSI too")
                roles = gsi.setdefault(marker.name, {})
                if marker.role in roles:
                    other = roles[marker.role][0].name
                    raise ValidationError(
                        f"{where}: GSI {marker.name!r} has two {marker.role} fields ({other} and {p.name})"
                    )
                roles[marker.role] = (p, marker)
            if marker.name not in order:
                order.append(marker.name)

    def include(where: str, index: str, names: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for n in names:
            stored = by_field.get(n) or by_stored.get(n)
            if stored is None:
                raise ValidationError(f"{where}: index {index!r} includes {n!r}, which is no stored field")
            out.append(stored)
        return tuple(out)

    result: list[IndexSchema] = []
    for index in order:
        if index in lsi:
            p, lm = lsi[index]
            where = f"{name}.{p.name}"
            if table is not None and sk is None:
                raise ValidationError(f"{where}: LSI {index!r} needs a table with a sort key (SK)")
            if pk is None:
                if table is None:
                    continue  # an abstract base: its tables check this
                raise ValidationError(f"{where}: LSI {index!r} needs a table partition key")
            if p.name in (pk.field, sk.field if sk else None):
                raise ValidationError(f"{where}: LSI {index!r} sort key cannot be a table key field")
            result.append(
                IndexSchema(
                    name=index,
                    kind="LSI",
                    pk=pk,
                    sk=_key_attr(cls, p, f"sort key of LSI {index!r}", allow_optional=True),
                    projection=lm.projection,
                    include=include(where, index, lm.include),
                )
            )
            continue
        roles = gsi[index]
        if "pk" not in roles:
            p = roles["sk"][0]
            raise ValidationError(
                f"{name}.{p.name}: GSI {index!r} has a sort key but no pk field (role='pk')"
            )
        p, gm = roles["pk"]
        where = f"{name}.{p.name}"
        gsk: KeyAttr | None = None
        if "sk" in roles:
            sp, sm = roles["sk"]
            if (sm.projection, sm.include) != (gm.projection, gm.include):
                raise ValidationError(
                    f"{name}.{sp.name}: GSI {index!r} projection differs from the one on {p.name}; "
                    "give the same projection and include on both markers"
                )
            gsk = _key_attr(cls, sp, f"sort key of GSI {index!r}", allow_optional=True)
        result.append(
            IndexSchema(
                name=index,
                kind="GSI",
                pk=_key_attr(cls, p, f"partition key of GSI {index!r}", allow_optional=True),
                sk=gsk,
                projection=gm.projection,
                include=include(where, index, gm.include),
            )
        )
    return tuple(result)
