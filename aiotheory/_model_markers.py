"""The `Annotated` markers a model field may carry, shared by `model` and `codec`.

Markers are plain values read once per class; nothing here runs per item. Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._types import AttributeValue

__all__ = [
    "GSI",
    "LSI",
    "PK",
    "SK",
    "TTL",
    "Converter",
    "CreatedAt",
    "Encrypted",
    "EpochSeconds",
    "Ignore",
    "JSONString",
    "OmitEmpty",
    "Projection",
    "RFC3339Nano",
    "Stored",
    "UpdatedAt",
    "Version",
]

Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]
_PROJECTIONS: Final = ("ALL", "KEYS_ONLY", "INCLUDE")


class _Marker:
    """A named singleton marker; its identity is what the class compiler looks for."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: The table's partition key field.
PK: Final = _Marker("PK")
#: The table's sort key field.
SK: Final = _Marker("SK")
#: An `int` field used as the optimistic-lock counter: create writes it, update checks and bumps it.
Version: Final = _Marker("Version")
#: A `datetime | None` field set when the item is created.
CreatedAt: Final = _Marker("CreatedAt")
#: A `datetime | None` field set on every write.
UpdatedAt: Final = _Marker("UpdatedAt")
#: The table's time-to-live attribute: a datetime or int stored as whole epoch seconds (N).
TTL: Final = _Marker("TTL")
#: Store a datetime as epoch seconds (N) instead of an RFC 3339 string.
EpochSeconds: Final = _Marker("EpochSeconds")
#: Store a datetime as Go's RFC3339Nano text with trailing zeros trimmed ("…05.1Z", "…05Z"), as
#: TableTheory writes it. Unlike the default fixed six digits it does not sort as a string within a second.
RFC3339Nano: Final = _Marker("RFC3339Nano")
#: Store any JSON-able value as one S attribute holding compact JSON with sorted keys (deterministic).
JSONString: Final = _Marker("JSONString")
#: The field is never written nor read (it keeps its default on reads).
Ignore: Final = _Marker("Ignore")
#: An empty value is not written and an absent one reads back as the empty value: "" and b"", an empty
#: list, dict or set, 0 (int, float, Decimal), False, and the zero time (`datetime.min`, Go's zero
#: `time.Time`), the way TableTheory's `omitempty` reads them.
OmitEmpty: Final = _Marker("OmitEmpty")
#: The attribute is stored as a KMS envelope (TableTheory's `encrypted` tag): see docs/encryption.md.
#: It cannot be a key, an index key, a special field, or appear in a condition, filter or key condition.
Encrypted: Final = _Marker("Encrypted")


@dataclass(frozen=True, slots=True)
class Stored:
    """The attribute name in the table, when it differs from the field name."""

    name: str


def _check_projection(kind: str, name: str, projection: str, include: tuple[str, ...]) -> None:
    # Local import keeps this module free of import cycles with errors' users.
    from .errors import ValidationError

    if projection not in _PROJECTIONS:
        raise ValidationError(
            f"{kind}({name!r}): projection must be one of {_PROJECTIONS}, not {projection!r}"
        )
    if projection == "INCLUDE" and not include:
        raise ValidationError(f"{kind}({name!r}): projection='INCLUDE' needs at least one name in include=")
    if projection != "INCLUDE" and include:
        raise ValidationError(f"{kind}({name!r}): include= is only allowed with projection='INCLUDE'")


@dataclass(frozen=True, slots=True, init=False)
class GSI:
    """This field is the partition (`role="pk"`) or sort (`role="sk"`) key of a global secondary index.

    `include` names fields (or stored names) projected with `projection="INCLUDE"`.
    """

    name: str
    role: Literal["pk", "sk"]
    projection: Projection
    include: tuple[str, ...]

    def __init__(
        self,
        name: str,
        role: Literal["pk", "sk"] = "pk",
        *,
        projection: Projection = "ALL",
        include: tuple[str, ...] | list[str] = (),
    ) -> None:
        from .errors import ValidationError

        if not name:
            raise ValidationError("GSI: the index name must not be empty")
        if role not in ("pk", "sk"):
            raise ValidationError(f"GSI({name!r}): role must be 'pk' or 'sk', not {role!r}")
        included = tuple(include)
        _check_projection("GSI", name, projection, included)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "projection", projection)
        object.__setattr__(self, "include", included)


@dataclass(frozen=True, slots=True, init=False)
class LSI:
    """This field is the sort key of a local secondary index (whose partition key is the table's)."""

    name: str
    projection: Projection
    include: tuple[str, ...]

    def __init__(
        self, name: str, *, projection: Projection = "ALL", include: tuple[str, ...] | list[str] = ()
    ) -> None:
        from .errors import ValidationError

        if not name:
            raise ValidationError("LSI: the index name must not be empty")
        included = tuple(include)
        _check_projection("LSI", name, projection, included)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "projection", projection)
        object.__setattr__(self, "include", included)


@runtime_checkable
class Converter(Protocol):
    """A custom codec for one field: put an instance in the field's `Annotated[...]`.

    `to_dynamo` gets the (non-None) python value and returns its AttributeValue; `from_dynamo` gets the
    stored AttributeValue back. Both raise on bad input; the codec reports the field.
    """

    def to_dynamo(self, value: object, /) -> AttributeValue: ...

    def from_dynamo(self, av: AttributeValue, /) -> object: ...
