"""The write rules shared by DB, batch and transactions, and the outcome-unknown resolution of single writes.

The rules: CreatedAt / UpdatedAt stamps, the Version check and bump, the create guard (no item with this
key) and the existence guard of an update. What depends only on the model class (its managed fields,
the guards, the version attribute, the create guard's rendered text) is built once per class in a
`_Rules` and reused. The resolution helpers tell, after a resend was refused, whether the refusal
answers our own first attempt. Imports `model`, `expr` and `errors`: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar

from .errors import ConditionFailed, KeyChanged, ValidationError
from .expr import Attr, Condition, Params, Update, render_condition
from .expr._nodes import PathAction, SetAction, Value
from .model import Model
from .schema import STORED

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Sequence

    from ._types import Item
    from .model import TableSchema

__all__ = [
    "as_written",
    "attach_old",
    "create_guard",
    "idempotent",
    "key_in",
    "rendered_create_guard",
    "same_item",
    "save_actions",
    "shallow_copy",
    "stamped",
    "stored_of",
    "update_landed",
    "update_plan",
    "version_guard",
]

M = TypeVar("M", bound=Model)


class _Rules:
    """What the write rules need of one model class, built on its first write."""

    __slots__ = (
        "create_guard",
        "create_text",
        "exists_guard",
        "fields",
        "managed",
        "stamped",
        "templated",
        "unsaved",
        "updated_at",
        "version",
        "version_field",
    )

    def __init__(self, schema: TableSchema[Any]) -> None:
        pk: Attr[Any] = Attr((schema.pk.stored,))
        self.create_guard: Condition = pk.not_exists()
        self.exists_guard: Condition = pk.exists()
        # A create without a condition of its own sends this text and these names as they are.
        params = Params()
        self.create_text = (render_condition(self.create_guard, params), dict(params.names))
        # Templated keys and their components are written whole by puts only: an update cannot re-render
        # an index key, and a table key never changes.
        self.stamped = frozenset(
            f.stored for f in (schema.version, schema.updated_at, schema.created_at) if f is not None
        )
        # What a put writes whole from several fields: templated keys and their components. A user's
        # update action may not touch them (it cannot re-render an index key from one component); a
        # save, which holds the whole model, SETs them re-rendered.
        self.templated = frozenset(schema.template_attributes)
        self.managed = self.stamped | self.templated
        # A save never SETs or REMOVEs the key (it cannot change), the stamped fields (the plan stamps
        # and bumps them) nor the discriminator (the plan writes it); it REMOVEs only attributes a field
        # of the model writes.
        keys = frozenset(a.stored for a in (schema.pk, schema.sk) if a is not None)
        typed = frozenset(() if schema.discriminator is None else (schema.discriminator,))
        self.unsaved = self.stamped | keys | typed
        self.fields: dict[str, tuple[str, Callable[[Any], object]]] = {
            p.stored: (p.name, p.codec.dec)
            for p in schema.plans
            if not p.ignore and p.stored not in self.unsaved
        }
        self.version_field = "" if schema.version is None else schema.version.field
        self.version: Attr[Any] | None = None if schema.version is None else _attr(schema, self.version_field)
        self.updated_at: Attr[Any] | None = (
            None if schema.updated_at is None else _attr(schema, schema.updated_at.field)
        )


#: One `_Rules` per model class; classes live for the process, so the table never needs pruning.
_RULES: Final[dict[type[Model], _Rules]] = {}


def _rules(schema: TableSchema[Any]) -> _Rules:
    rules = _RULES.get(schema.model)
    if rules is None:
        rules = _RULES.setdefault(schema.model, _Rules(schema))
    return rules


def _attr(schema: TableSchema[Any], field: str) -> Attr[Any]:
    attr: Attr[Any] = getattr(schema.model, field)
    return attr


# ------------------------------------------------------------------------------------------ rules


def stamped(item: M, schema: TableSchema[Any], clock: Callable[[], _dt.datetime], *, creating: bool) -> M:
    """`item` as written: UpdatedAt set, CreatedAt set when creating or empty, Version 0 when creating."""
    changes: dict[str, object] = {}
    if schema.updated_at is not None or schema.created_at is not None:
        now = clock()
        if schema.updated_at is not None:
            changes[schema.updated_at.field] = now
        if schema.created_at is not None and (creating or getattr(item, schema.created_at.field) is None):
            changes[schema.created_at.field] = now
    if creating and schema.version is not None:
        changes[schema.version.field] = 0
    if schema.templated:
        changes.update(schema.template_values(item))  # the model returned holds the keys written
    return item.model_copy(update=changes) if changes else item


def create_guard(schema: TableSchema[Any], condition: Condition | None) -> Condition:
    """A create's condition: no item has this key, and the caller's condition."""
    guard = _rules(schema).create_guard
    return guard if condition is None else guard & condition


def rendered_create_guard(schema: TableSchema[Any]) -> tuple[str, dict[str, str]]:
    """The create guard alone as sent (expression, names), rendered once per class; copy the names."""
    return _rules(schema).create_text


def version_guard(schema: TableSchema[Any], item: Model, condition: Condition | None) -> Condition | None:
    """A delete's or replace's condition: the caller's, and the item's version when its model has one."""
    rules = _rules(schema)
    version = rules.version
    if version is None:
        return condition
    check: Condition = version == getattr(item, rules.version_field)
    return check if condition is None else check & condition


def update_plan(
    schema: TableSchema[Any],
    item: Model,
    updates: Sequence[Update],
    condition: Condition | None,
    upsert: bool,
    clock: Callable[[], _dt.datetime],
    derived: Sequence[Update] = (),
) -> tuple[list[Update], Condition | None]:
    """The actions and guard an update sends, shared by `DB.update` and `Transaction.update`.

    Adds UpdatedAt and the version check + bump, guards against creating a partial item unless
    `upsert`, and refuses user actions on library-managed fields (before any request). `derived`
    are actions the library computed from a whole model (`save_actions`): they may re-render
    templated attributes, which a user's action may not touch.
    """
    rules = _rules(schema)
    name = type(item).__name__
    actions: list[Update] = []
    managed = rules.managed
    for action in updates:
        if not isinstance(action, Update):
            raise ValidationError(f"update actions must be Update objects, got {type(action).__name__}")
        if action.path and action.path[0] in managed:
            raise ValidationError(f"{name}: {action.path[0]!r} is managed by the library; do not update it")
        actions.append(action)
    actions.extend(derived)
    version = rules.version
    if not actions and version is None and rules.updated_at is None:
        raise ValidationError(f"update of {name} needs at least one update action")
    guard: Condition | None = None if upsert else rules.exists_guard
    if rules.updated_at is not None:
        actions.append(rules.updated_at.set(clock()))
    discriminator = schema.discriminator
    if discriminator is not None:
        # An upsert may create the item: it must carry its type like any other write.
        actions.append(Attr((discriminator,)).set(Value({"S": schema.entity})))
    if version is not None:
        current = getattr(item, rules.version_field)
        check = version == current
        if upsert:
            check = version.not_exists() | check
        guard = check if guard is None else guard & check
        actions.append(version.set(current + 1))
    if condition is not None:
        guard = condition if guard is None else guard & condition
    return actions, guard


# ------------------------------------------------------------------------------------------ save


def stored_of(item: Model) -> Item | None:
    """The attributes `item` was read (or last written) as; None for a model built by hand."""
    found: Item | None = item.__dict__.get(STORED)
    return found


def as_written(written: M, given: M, encoded: Item) -> M:
    """`written` remembering `encoded` as its stored attributes, so it can be saved; never `given`
    itself (the caller's argument is not mutated), a shallow copy when the write changed nothing."""
    out = shallow_copy(given) if written is given else written
    out.__dict__[STORED] = encoded
    return out


def shallow_copy(item: M) -> M:
    """What `item.model_copy()` makes (field values shared, the rest copied), in a few calls: a put
    of a model without stamps pays for it on every call."""
    out: M = object.__new__(type(item))
    _set = object.__setattr__
    _set(out, "__dict__", dict(item.__dict__))
    _set(out, "__pydantic_fields_set__", set(item.__pydantic_fields_set__))
    extra = item.__pydantic_extra__
    _set(out, "__pydantic_extra__", None if extra is None else dict(extra))
    private = item.__pydantic_private__
    _set(out, "__pydantic_private__", None if private is None else dict(private))
    return out


def save_actions(schema: TableSchema[Any], encoded: Item, stored: Item) -> list[Update]:
    """The SET and REMOVE actions that turn `stored` into `encoded` (both whole encoded items).

    An attribute whose raw value differs is compared decoded before it is written: DynamoDB answers
    numbers normalised ("1.50" as "1.5") and sets in its own order, which is no change. Managed
    fields are left to the update plan. Raises KeyChanged when the key differs (before any request).
    """
    if schema.key_id(encoded) != schema.key_id(stored):
        raise KeyChanged(
            f"{schema.model.__name__}: the key differs from the item it was read as; "
            "save() cannot move an item (create it under the new key and delete the old one)"
        )
    rules = _rules(schema)
    skip = rules.unsaved
    fields = rules.fields
    actions: list[Update] = []
    for name, av in encoded.items():
        if name in skip:
            continue
        old = stored.get(name)
        if old == av:
            continue
        if old is not None:
            field = fields.get(name)
            if field is not None and _same_value(field[1], old, av):
                continue
        actions.append(SetAction((name,), Value(av)))
    actions.extend(PathAction((name,)) for name in fields if name in stored and name not in encoded)
    return actions


def _same_value(dec: Callable[[Any], object], old: object, new: object) -> bool:
    try:
        return dec(old) == dec(new)
    except Exception:  # a stored value that no longer fits the field: write ours
        return False


# ------------------------------------------------------------------------------- outcome unknown


def key_in(schema: TableSchema[Any], encoded: Item) -> Item:
    """The key attributes of an encoded item (for errors that name the item)."""
    key = {schema.pk.stored: encoded[schema.pk.stored]}
    if schema.sk is not None:
        key[schema.sk.stored] = encoded[schema.sk.stored]
    return key


def same_item(schema: TableSchema[Any], stored: Item, written: Item) -> bool:
    """Whether the stored item is the one we wrote, compared as models (DynamoDB renormalises numbers
    and reorders sets, so the raw maps may differ)."""
    try:
        return bool(schema.decode(stored) == schema.decode(written))
    except ValidationError:
        return False


def idempotent(actions: Sequence[Update]) -> bool:
    """Whether applying `actions` twice leaves what applying them once does (SET a value, REMOVE, set ADD)."""
    from .expr._apply import idempotent as _all_idempotent

    return _all_idempotent(actions)


def update_landed(
    schema: TableSchema[Any], item: Model, actions: Sequence[Update], stored: Item | None
) -> bool | None:
    """Whether a refused resend of an update means our first attempt landed: True, False, or None when
    the stored item cannot tell.

    Idempotent actions landed when the stored item already shows all of them and carries a mark only
    this call wrote (the bumped Version or the UpdatedAt stamp); without either mark another writer
    could have made the same change, so the answer is None. Other (versioned) updates landed when the
    stored version is ours + 1 and the item is what our actions make of `item`.
    """
    from .expr._apply import Unpredictable, apply_update, set_value
    from .expr._apply import idempotent as _all_idempotent

    if stored is None:
        return False
    try:
        if _all_idempotent(actions):
            if schema.decode(apply_update(actions, stored)) != schema.decode(stored):
                return False
            return True if schema.version is not None or schema.updated_at is not None else None
        if schema.version is None:
            return None
        current = schema.decode(stored)
        if getattr(current, schema.version.field) != getattr(item, schema.version.field) + 1:
            return False
        if schema.updated_at is not None:
            stamp = set_value(actions, (schema.updated_at.stored,))
            if stamp is not None and stored.get(schema.updated_at.stored) == stamp:
                return True
        return bool(current == schema.decode(apply_update(actions, schema.encode(item))))
    except (Unpredictable, ValidationError):
        return None


def attach_old(exc: ConditionFailed, schema: TableSchema[Any]) -> None:
    """Set `exc.old` to the decoded item a failed condition returned (None when it does not fit)."""
    raw = exc.old_item
    if isinstance(raw, dict):
        try:
            exc.old = schema.decode(raw)
        except ValidationError:
            exc.old = None
