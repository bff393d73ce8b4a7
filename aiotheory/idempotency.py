"""Exactly-once async handlers: `IdempotencyStore` and its `@store.idempotent(key=...)` decorator.

Records live in one DynamoDB table in the layout of Powertools for AWS Lambda's DynamoDB persistence
layer and are written through the DB facade's conditional writes. An operations-layer module: it uses
`db`, `model`, `expr` and `deadlines`, and nothing imports it but the package face. Its errors
(`IdempotencyError` and subclasses) live in `errors.py` with every other exception, re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import types
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, ParamSpec, TypeVar, cast

from ._observe import logger as _logger
from .codec import MAX_ITEM_BYTES
from .deadlines import remaining
from .errors import (
    AiotheoryError,
    ConditionFailed,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyReplyNotStored,
    ValidationError,
)
from .expr import F
from .model import PK, TTL, Model, schema_of

if TYPE_CHECKING:
    from .db import DB
    from .expr import Condition

__all__ = [
    "COMPLETED",
    "INPROGRESS",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyKeyMismatch",
    "IdempotencyRecord",
    "IdempotencyReplyNotStored",
    "IdempotencyStore",
]

P = ParamSpec("P")
R = TypeVar("R")

#: The record states, spelled as Powertools spells them.
INPROGRESS: Final = "INPROGRESS"
COMPLETED: Final = "COMPLETED"

_log: Final = _logger("aiotheory.idempotency")
# Room in a record for everything but its reply: the id (a partition key: at most 2048 bytes) and the
# other attributes' names and values, rounded up.
_RECORD_OVERHEAD: Final = 4096
# Powertools hashes `json.dumps(value, sort_keys=True)` with the default separators; the key of a
# record written by either side must come out the same, so the text is made the same way.
_KEY_JSON: Final = json.JSONEncoder(sort_keys=True, default=str)
# The stored reply: Powertools writes `json.dumps(reply, sort_keys=True)` too.
_REPLY_JSON: Final = json.JSONEncoder(sort_keys=True, allow_nan=False)


# ------------------------------------------------------------------------------------------------ errors


# ------------------------------------------------------------------------------------------------ record


class IdempotencyRecord(Model):
    """One idempotency record, in Powertools' layout (abstract: each table gets its own subclass).

    `expiration` is epoch seconds (the table's TTL attribute), `in_progress_expiration` epoch
    milliseconds, `data` the reply as JSON text, `validation` the payload hash.
    """

    id: Annotated[str, PK]
    expiration: Annotated[int, TTL] = 0
    in_progress_expiration: int | None = None
    status: str = INPROGRESS
    data: str | None = None
    validation: str | None = None


# One record class per table name, shared by every store on that table.
_RECORD_CLASSES: dict[str, type[IdempotencyRecord]] = {}


def _namespace(namespace: dict[str, Any]) -> None:
    namespace["__module__"] = __name__


def _record_class(table: str) -> type[IdempotencyRecord]:
    found = _RECORD_CLASSES.get(table)
    if found is None:
        made = types.new_class("IdempotencyRecord", (IdempotencyRecord,), {"table": table}, _namespace)
        found = _RECORD_CLASSES.setdefault(table, made)
    return found


# ---------------------------------------------------------------------------------------------- selection


def _split_path(path: str) -> tuple[str | int, ...]:
    if not path or any(not part for part in path.split(".")):
        raise ValidationError(f"an event path is dotted names such as 'body.idempotencyKey', got {path!r}")
    return tuple(int(part) if part.isdigit() else part for part in path.split("."))


def _walk(value: object, path: tuple[str | int, ...]) -> object:
    """The value at `path` in a JSON-like event (mappings, sequences, then attributes), or None."""
    for part in path:
        if isinstance(value, Mapping):
            value = value.get(part if isinstance(part, str) else str(part))
        elif isinstance(part, int) and isinstance(value, Sequence) and not isinstance(value, str | bytes):
            value = value[part] if -len(value) <= part < len(value) else None
        else:
            value = getattr(value, str(part), None)
        if value is None:
            return None
    return value


class _Selector:
    """Picks part of the event: a function of it, a dotted path in it, or (`whole`) the event itself."""

    __slots__ = ("_function", "_path")

    def __init__(self, spec: Callable[[Any], object] | str | None) -> None:
        self._function = spec if callable(spec) else None
        self._path = _split_path(spec) if isinstance(spec, str) else None

    def __call__(self, event: object) -> object:
        if self._function is not None:
            return self._function(event)
        if self._path is not None:
            return _walk(event, self._path)
        return event


def _missing(value: object) -> bool:
    # As Powertools decides: no value, an empty one, or a list/dict whose every element is None.
    if isinstance(value, bool | int | float):
        return False
    if isinstance(value, list | tuple | dict):
        return all(element is None for element in value)
    return not value


def _digest(value: object) -> str:
    # md5 is Powertools' default hash; it names records, it does not protect anything.
    return hashlib.md5(_KEY_JSON.encode(value).encode("utf-8"), usedforsecurity=False).hexdigest()


# ----------------------------------------------------------------------------------------------- the store


class _Cached:
    __slots__ = ("data", "expiration", "validation")

    def __init__(self, data: str | None, expiration: int, validation: str | None) -> None:
        self.data = data
        self.expiration = expiration
        self.validation = validation


class IdempotencyStore:
    """Makes async functions exactly-once per idempotency key, with records in one DynamoDB table.

    Building it does no I/O; `await store.create_table()` creates the table (TTL on `expiration`).
    The table name gets the DB's table prefix, like every model's.

    Args:
        table: the table's name (without the DB's prefix).
        expires_after: seconds a completed reply is replayed (the record's TTL); Powertools' default.
        in_progress_ttl: seconds an in-progress lease lasts when no deadline scope is active; with
            one (every `@lambda_handler` invocation), the lease ends with the deadline.
        cache_size: completed replies kept in memory per process (0: none); a hit sends no request.
        clock: epoch seconds now (`time.time`); injectable for tests of expiry.
        function_name: the first part of every record id; defaults to `AWS_LAMBDA_FUNCTION_NAME`
            (else "test-func", as Powertools), read when the store is built.
    """

    __slots__ = (
        "_cache",
        "_cache_size",
        "_clock",
        "_db",
        "_expires_after",
        "_function_name",
        "_in_progress_ttl",
        "model",
    )

    def __init__(
        self,
        db: DB,
        *,
        table: str,
        expires_after: int = 3600,
        in_progress_ttl: float = 60.0,
        cache_size: int = 256,
        clock: Callable[[], float] = time.time,
        function_name: str | None = None,
    ) -> None:
        if expires_after <= 0 or in_progress_ttl <= 0 or cache_size < 0:
            raise ValidationError("expires_after and in_progress_ttl must be above 0, cache_size not below")
        self._db = db
        #: The record model of this store's table (a subclass of IdempotencyRecord).
        self.model: type[IdempotencyRecord] = _record_class(table)
        self._expires_after = int(expires_after)
        self._in_progress_ttl = float(in_progress_ttl)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._clock = clock
        self._function_name = (
            function_name
            if function_name is not None
            else os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "test-func")
        )

    def __repr__(self) -> str:
        return f"IdempotencyStore(table={self._db.table_name(self.model)!r})"

    async def create_table(self) -> None:
        """Create the records' table (on demand, TTL on `expiration`) and wait until it is active.

        Raises:
            ResourceInUse: the table exists already.
        """
        await self._db.create_table(self.model)

    def idempotent(
        self,
        *,
        key: Callable[[Any], object] | str,
        payload: Callable[[Any], object] | str | Literal[True] | None = None,
        require_key: bool = False,
        name: str | None = None,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """Decorate an `async def` so each idempotency key runs it once; repeats get the stored reply.

        The event is the call's first positional argument (a Lambda handler's `event`, a FastAPI
        endpoint's body); decorate a bound method, not a method in its class body. The reply must be
        JSON (what a Lambda returns); repeats get it back decoded from JSON.

        Args:
            key: selects the key from the event: a function of it, or a dotted path
                ("body.idempotencyKey"; digits index lists). The record id hashes it with the
                function's module and qualified name, as Powertools does.
            payload: what a repeat must carry unchanged (a function, a path, or True for the whole
                event); its hash is stored and a different one raises IdempotencyKeyMismatch.
            require_key: raise ValidationError when the key is missing; by default such a call runs
                without idempotency (as Powertools does).
            name: the record-id prefix after the function name (default `module.qualname`).
        """
        key_of = _Selector(key)
        payload_of = None if payload is None else _Selector(None if payload is True else payload)

        def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            qualified = name if name is not None else _qualified_name(function)
            guard = _Guard(self, f"{self._function_name}.{qualified}", key_of, payload_of, require_key)

            @functools.wraps(function)
            async def idempotent(*args: P.args, **kwargs: P.kwargs) -> R:
                if not args:
                    raise ValidationError(f"{qualified}: an idempotent call takes the event first")
                record_id, validation = guard.ids(args[0])
                if record_id is None:
                    return await function(*args, **kwargs)
                return await guard.run(record_id, validation, function(*args, **kwargs))

            return idempotent

        return decorate

    # ------------------------------------------------------------------------------------- the cache

    def _cached(self, record_id: str, now: float) -> _Cached | None:
        entry = self._cache.get(record_id)
        if entry is None:
            return None
        if entry.expiration <= now:
            del self._cache[record_id]
            return None
        self._cache.move_to_end(record_id)
        return entry

    def _remember(self, record_id: str, entry: _Cached) -> None:
        if not self._cache_size:
            return
        self._cache[record_id] = entry
        self._cache.move_to_end(record_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _forget(self, record_id: str) -> None:
        self._cache.pop(record_id, None)


class _Guard:
    """One decorated function's record ids and the INPROGRESS -> COMPLETED / deleted cycle."""

    __slots__ = ("_key_of", "_payload_of", "_prefix", "_require", "_store")

    def __init__(
        self,
        store: IdempotencyStore,
        prefix: str,
        key_of: _Selector,
        payload_of: _Selector | None,
        require: bool,
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._key_of = key_of
        self._payload_of = payload_of
        self._require = require

    def ids(self, event: object) -> tuple[str | None, str | None]:
        """The record id (None: the key is missing) and the payload hash (None: not validated)."""
        selected = self._key_of(event)
        if _missing(selected):
            if self._require:
                raise ValidationError(f"{self._prefix}: the event has no idempotency key")
            _log.debug("idempotency: no key in the event of %s; running without a record", self._prefix)
            return None, None
        validation = None if self._payload_of is None else _digest(self._payload_of(event))
        return f"{self._prefix}#{_digest(selected)}", validation

    async def run(self, record_id: str, validation: str | None, call: Awaitable[R]) -> R:
        """Run `call` once for `record_id`, or replay the stored reply; `call` is closed if not run."""
        store = self._store
        now = store._clock()
        cached = store._cached(record_id, now)
        if cached is not None:
            _close(call)
            # A replay is the reply decoded from JSON, which is what the function returned.
            return cast("R", self._replay(record_id, validation, cached.data, cached.validation))
        record = store.model(
            id=record_id,
            expiration=int(now) + store._expires_after,
            in_progress_expiration=_lease_end_ms(now, store._in_progress_ttl),
            status=INPROGRESS,
            validation=validation,
        )
        try:
            await store._db.put(record, condition=_claimable(now))
        except ConditionFailed as exc:
            _close(call)
            return cast("R", self._existing(record_id, validation, exc.old))
        except BaseException:
            _close(call)
            raise
        try:
            reply = await call
        except BaseException:
            await self._release(record)
            raise
        await self._complete(record, reply)
        return reply

    def _existing(self, record_id: str, validation: str | None, old: object) -> object:
        """A claim refused: replay a COMPLETED record, or say an INPROGRESS one is still leased."""
        if not isinstance(old, IdempotencyRecord):
            # The record vanished between the refusal and its read (a failure's delete): a live peer.
            raise IdempotencyInProgress(
                f"{record_id}: another invocation is handling this key",
                record_id=record_id,
                lease_ends_ms=None,
            )
        if old.status == COMPLETED:
            self._store._remember(record_id, _Cached(old.data, old.expiration, old.validation))
            return self._replay(record_id, validation, old.data, old.validation)
        self._check(record_id, validation, old.validation)
        raise IdempotencyInProgress(
            f"{record_id}: another invocation is handling this key",
            record_id=record_id,
            lease_ends_ms=old.in_progress_expiration,
        )

    def _replay(self, record_id: str, validation: str | None, data: str | None, stored: str | None) -> object:
        self._check(record_id, validation, stored)
        if data is None:
            raise IdempotencyReplyNotStored(
                f"{record_id}: this key already ran, but its reply was not stored", record_id=record_id
            )
        reply: object = json.loads(data)
        return reply

    def _check(self, record_id: str, validation: str | None, stored: str | None) -> None:
        if validation is not None and stored != validation:
            raise IdempotencyKeyMismatch(
                f"{record_id}: this idempotency key was used with another request payload",
                record_id=record_id,
            )

    async def _release(self, record: IdempotencyRecord) -> None:
        """Delete our INPROGRESS record after a failure so a retry runs; only while it is still ours."""
        model = type(record)
        ours = (F(model.status) == INPROGRESS) & (
            F(model.in_progress_expiration) == record.in_progress_expiration
        )
        try:
            await self._store._db.delete(model, record.id, condition=ours)
        except ConditionFailed:
            pass  # our lease ended and another invocation holds the key now: its record stays
        except AiotheoryError as exc:
            # Past the deadline nothing can be sent; the lease (bound to that deadline) frees the key.
            # The function's own error is what the caller must see, so this one is only logged.
            _log.warning(
                "idempotency: could not delete %s after a failure (%s)", record.id, type(exc).__name__
            )
        self._store._forget(record.id)

    async def _complete(self, record: IdempotencyRecord, reply: object) -> None:
        """Store the reply as COMPLETED; a reply that cannot be stored is still returned (logged)."""
        store = self._store
        model = type(record)
        data: str | None
        try:
            data = _REPLY_JSON.encode(reply)
        except (TypeError, ValueError):
            data = None
            _log.error(
                "idempotency: the reply of %s is not JSON; repeats will get IdempotencyReplyNotStored",
                record.id,
            )
        expiration = int(store._clock()) + store._expires_after
        # The reply text is ASCII (json escapes the rest) and a key is at most 2 KB, so only a reply
        # near the limit needs the record's exact size.
        if data is not None and len(data) > MAX_ITEM_BYTES - _RECORD_OVERHEAD:
            done = record.model_copy(update={"status": COMPLETED, "data": data, "expiration": expiration})
            try:
                schema_of(model).encode(done)  # raises ValidationError above DynamoDB's 400 KB
            except ValidationError:
                _log.error(
                    "idempotency: the reply of %s is %d bytes, too large for a DynamoDB item (400 KB); "
                    "repeats will get IdempotencyReplyNotStored",
                    record.id,
                    len(data),
                )
                data = None
        ours = (F(model.status) == INPROGRESS) & (
            F(model.in_progress_expiration) == record.in_progress_expiration
        )
        updates = [F(model.status).set(COMPLETED), F(model.expiration).set(expiration)]
        updates.append(F(model.data).set(data) if data is not None else F(model.data).remove())
        try:
            await store._db.update(record, *updates, condition=ours)
        except ConditionFailed:
            # Our lease ended before we finished and another invocation took the key (or its record
            # expired): the reply is still this caller's, but it is not the one stored.
            _log.warning("idempotency: %s was taken over before it completed; reply not stored", record.id)
            return
        store._remember(record.id, _Cached(data, expiration, record.validation))


def _qualified_name(function: object) -> str:
    """`module.qualname` of a function, or of its class for a callable object (as Powertools names it)."""
    owner = function if hasattr(function, "__qualname__") else type(function)
    return f"{owner.__module__}.{owner.__qualname__}"


def _lease_end_ms(now: float, fallback: float) -> int:
    """When an INPROGRESS claim stops blocking others: the deadline scope's end, else now + fallback.

    The scope is kept on the monotonic clock; its remaining time is added to the wall clock, which is
    what other invocations (other processes) compare against.
    """
    left = remaining()
    return int((now + (fallback if left is None else max(left, 0.0))) * 1000)


def _claimable(now: float) -> Condition:
    """A new record, an expired one, or an INPROGRESS one whose lease ended (Powertools' condition)."""
    record = IdempotencyRecord
    return (
        F(record.id).not_exists()
        | (F(record.expiration) < int(now))
        | (
            (F(record.status) == INPROGRESS)
            & F(record.in_progress_expiration).exists()
            & (F(record.in_progress_expiration) < int(now * 1000))
        )
    )


def _close(call: Awaitable[object]) -> None:
    # The coroutine was made before we knew whether to run it: close it so it never warns "never awaited".
    close = getattr(call, "close", None)
    if close is not None:
        close()
