"""Running a model's lifecycle hooks (`aiotheory._rules.Hooks`) inside the caller's deadline scope.

Operations call these only when the class declares hooks (`Model.__aiotheory__.hooks` is not None),
so a model without hooks pays one attribute read per operation and no call. A `def` hook runs as a
plain call; an `async def` hook is awaited under `deadlines.bounded`, so the deadline that bounds the
AWS calls bounds it too. A hook's exception propagates unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .deadlines import bounded
from .errors import ValidationError
from .model import Model

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._rules import Hooks
    from ._types import Item
    from .model import TableSchema

__all__ = ["after_read", "after_write", "before_delete", "before_write", "key_model"]

M = TypeVar("M", bound=Model)


async def _run(hook: tuple[Callable[[Any], object], bool], item: object, name: str) -> object:
    fn, is_async = hook
    if not is_async:
        return fn(item)
    async with bounded(f"{type(item).__name__}.{name}"):
        return await fn(item)  # type: ignore[misc]  # an async def hook returns an awaitable


async def before_write(hooks: Hooks, item: M) -> M:
    """The model to write: what the `before_write` hook returned, or `item` when it returned None."""
    hook = hooks.before_write
    if hook is None:
        return item
    result = await _run(hook, item, "before_write")
    if result is None:
        return item
    if type(result) is not type(item):
        raise ValidationError(
            f"{type(item).__name__}.before_write returned a {type(result).__name__}; "
            f"return a {type(item).__name__} or None"
        )
    return result


async def after_write(hooks: Hooks, item: Model) -> None:
    hook = hooks.after_write
    if hook is not None:
        await _run(hook, item, "after_write")


async def after_read(hooks: Hooks, item: object) -> None:
    hook = hooks.after_read
    if hook is not None:
        await _run(hook, item, "after_read")


async def before_delete(hooks: Hooks, item: Model) -> None:
    hook = hooks.before_delete
    if hook is not None:
        await _run(hook, item, "before_delete")


def key_model(schema: TableSchema[M], key: Item) -> M:
    """What a delete by key hands `before_delete`: a model holding only its key fields (not validated)."""
    fields: dict[str, Any] = schema.decode_key(key)
    return schema.model.model_construct(None, **fields)
