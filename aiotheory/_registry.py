"""Which model classes declare which table: the single-table registry, checked when each class is created.

One entry per unprefixed table name. A class is known by its module and qualified name, so redefining it
(a notebook cell run again, a reloaded module, a class built inside a function) replaces the old entry;
classes are held weakly, so a discarded one leaves. Imports no pydantic, nothing of I/O.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Final

from .errors import ValidationError

if TYPE_CHECKING:
    from .schema import IndexSchema, KeyAttr, Layout

__all__ = ["DEFAULT_DISCRIMINATOR", "TableEntry", "entry_for", "register"]

#: The default discriminator attribute. A pydantic field cannot start with "_", so no field's stored name
#: collides with it unless `Stored("_type")` asks for that on purpose; it is short (names count towards
#: the 400 KB item size and every read), and it reads as "owned by the library".
DEFAULT_DISCRIMINATOR: Final = "_type"

_LOCK: Final = threading.RLock()


class _Member:
    __slots__ = ("discriminator", "entity", "implicit", "layout", "ref")

    def __init__(
        self, cls: type, layout: Layout, entity: str | None, discriminator: str | None, implicit: bool
    ) -> None:
        self.ref = weakref.ref(cls)
        self.layout = layout
        self.entity = entity if entity is not None else cls.__name__
        self.discriminator = discriminator
        # Whether declaring this model beside another entity tags the table without a `discriminator=`:
        # not for TableTheory-format models, whose tables TableTheory services also write (no `_type`).
        self.implicit = implicit


class TableEntry:
    """The models of one table and what they share: whether items carry a discriminator, and its name.

    `tagged` and `attribute` are recomputed whenever a model joins or leaves; a table is tagged when
    models of two or more entities in aiotheory's item format declare it, or any of them sets
    `discriminator=` (the opt-in of a table with one entity, and of TableTheory-format models, which
    never tag a table implicitly: a TableTheory service writing the same table would not). Read on
    every write (one attribute load), so a model that was alone at first
    starts tagging as soon as another entity joins.
    """

    __slots__ = ("_members", "attribute", "name", "tagged")

    def __init__(self, name: str) -> None:
        self.name = name
        self._members: dict[tuple[str, str], _Member] = {}
        self.tagged = False
        self.attribute: str = DEFAULT_DISCRIMINATOR

    def models(self) -> tuple[type, ...]:
        """The live model classes of this table, in the order they were declared."""
        out = []
        for member in self._members.values():
            cls = member.ref()
            if cls is not None:
                out.append(cls)
        return tuple(out)

    def indexes(self, *, besides: str | None = None) -> tuple[IndexSchema, ...]:
        """Every index the table's models declare, once each (they agree: checked at registration).

        `besides` leaves out the entity asking: its own indexes are its own class's, not those of the
        newest declaration of that entity (an older model version in a migration script or test).
        """
        seen: dict[str, IndexSchema] = {}
        for member in self._live():
            if member.entity == besides:
                continue
            for index in member.layout.indexes:
                seen.setdefault(index.name, index)
        return tuple(seen.values())

    def _live(self) -> list[_Member]:
        dead = [k for k, m in self._members.items() if m.ref() is None]
        for k in dead:
            del self._members[k]
        return list(self._members.values())

    def _refresh(self) -> None:
        live = self._live()
        named = [m.discriminator for m in live if m.discriminator is not None]
        self.attribute = named[0] if named else DEFAULT_DISCRIMINATOR
        # One member per entity (a second declaration of an entity replaces the first).
        self.tagged = sum(m.implicit for m in live) > 1 or bool(named)


_TABLES: Final[dict[str, TableEntry]] = {}


def entry_for(table: str) -> TableEntry:
    """The registry entry of `table` (made empty when no model declared it yet)."""
    entry = _TABLES.get(table)
    if entry is None:
        with _LOCK:
            entry = _TABLES.setdefault(table, TableEntry(table))
    return entry


def _key_text(attr: KeyAttr | None) -> str:
    return "none" if attr is None else f"{attr.stored} ({attr.type})"


def _index_text(index: IndexSchema) -> str:
    sk = _key_text(index.sk)
    return f"{index.kind} pk={_key_text(index.pk)} sk={sk} projection={index.projection} {index.include}"


def register(
    cls: type,
    table: str,
    layout: Layout,
    *,
    entity: str | None,
    discriminator: str | None,
    implicit: bool = True,
) -> TableEntry:
    """Add `cls` to its table's models; ValidationError naming both classes when it disagrees with one.

    Two models of a table must have the same key attributes (stored names and types), the same definition
    of every index both declare, the same discriminator attribute when both name one, and distinct
    entity values.
    """
    name = cls.__name__
    key = (cls.__module__, cls.__qualname__)
    with _LOCK:
        entry = entry_for(table)
        for other_key, member in list(entry._members.items()):
            other = member.ref()
            mine_entity = entity if entity is not None else name
            if other is None or other_key == key or mine_entity == member.entity:
                # A redefinition: the same class again, or another class for the same entity (a
                # re-declared model in a script or test module); the newest declaration reads its items.
                del entry._members[other_key]
                continue
            both = f"{name} and {other.__name__} both declare table {table!r}"
            theirs = member.layout
            for what, mine, their in (
                ("partition key", layout.pk, theirs.pk),
                ("sort key", layout.sk, theirs.sk),
            ):
                if (mine is None) != (their is None) or (
                    mine is not None
                    and their is not None
                    and (mine.stored, mine.type) != (their.stored, their.type)
                ):
                    raise ValidationError(
                        f"{both} with different {what}s: {_key_text(mine)} in {name}, "
                        f"{_key_text(their)} in {other.__name__}"
                    )
            their_indexes = {ix.name: ix for ix in theirs.indexes}
            for index in layout.indexes:
                found = their_indexes.get(index.name)
                if found is not None and _index_text(found) != _index_text(index):
                    raise ValidationError(
                        f"{both} with different definitions of index {index.name!r}: "
                        f"{_index_text(index)} in {name}, {_index_text(found)} in {other.__name__}"
                    )
            if discriminator is not None and member.discriminator not in (None, discriminator):
                raise ValidationError(
                    f"{both} with different discriminator attributes: {discriminator!r} in {name}, "
                    f"{member.discriminator!r} in {other.__name__}"
                )
        entry._members[key] = _Member(cls, layout, entity, discriminator, implicit)
        entry._refresh()
    return entry
