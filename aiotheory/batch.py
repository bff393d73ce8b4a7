"""Batch reads and writes: chunked to DynamoDB's limits, run concurrently under a bound, and retried
until DynamoDB has done all of it, or raising UnprocessedItems with exactly the work it did not do.

Every request goes through the requester's one call function; backoff sleeps run under the deadline
scope. Knows models, the write rules (`_writes`) and the requester; never the DB facade, nothing of HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio

from ._hooks import after_read, after_write, before_delete, before_write, key_model
from ._writes import as_written, stamped
from .deadlines import bounded
from .errors import (
    AwsError,
    DeadlineExceeded,
    OutcomeUnknown,
    TransportError,
    UnprocessedItems,
    ValidationError,
)
from .expr import Params, render_projection
from .model import Model, schema_of
from .schema import key_target

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._requester import Requester
    from ._types import Item, Payload
    from .expr import Attr
    from .model import TableSchema

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_ROUNDS",
    "MAX_BATCH_GET",
    "MAX_BATCH_WRITE",
    "batch_get",
    "batch_write",
]

M = TypeVar("M", bound=Model)

#: BatchGetItem: at most 100 keys per request.
MAX_BATCH_GET: Final = 100
#: BatchWriteItem: at most 25 put/delete requests per request.
MAX_BATCH_WRITE: Final = 25
#: Requests of one batch in flight at once: enough to hide latency, few enough not to provoke throttling.
DEFAULT_CONCURRENCY: Final = 8
#: Rounds per chunk (the first request plus retries of what came back unprocessed or throttled).
DEFAULT_ROUNDS: Final = 10

_NONE: Final[frozenset[int]] = frozenset()
_GET: Final = "BatchGetItem"
_WRITE: Final = "BatchWriteItem"


# ------------------------------------------------------------------------------------------ keys


# ------------------------------------------------------------------------------------------ rounds


class _Rounds:
    """What one batch call shares across its chunk tasks: the limiter, the policy, and what failed.

    A chunk's failure is recorded here instead of raised, so one chunk running out of time or retries
    never cancels the others: every chunk ends knowing which of its work was done, which was not, and
    which may have been (a request that left without a usable reply).
    """

    __slots__ = ("cause", "failed", "limiter", "operation", "requester", "resend", "rounds", "unknown")

    def __init__(self, requester: Requester, operation: str, concurrency: int, rounds: int) -> None:
        if concurrency < 1:
            raise ValidationError("batch concurrency must be at least 1")
        if rounds < 1:
            raise ValidationError("batch rounds must be at least 1")
        self.requester = requester
        self.operation = operation
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.rounds = rounds
        # BatchWriteItem: the call function must not resend a request whose reply was lost on its own,
        # or this layer could not know that its writes may have landed; the chunk resends it instead.
        self.resend: bool | None = False if operation == _WRITE else None
        self.failed: list[int] = []  # positions (in the call's unique work list) certainly not done
        self.unknown: list[int] = []  # positions whose request left without a usable reply
        self.cause: BaseException | None = None

    def fail(
        self, positions: Iterable[int], cause: BaseException | None, tainted: set[int] | frozenset[int]
    ) -> None:
        """Record `positions` as not done, or as unknown when a request carrying them may have landed."""
        for p in positions:
            (self.unknown if p in tainted else self.failed).append(p)
        if self.cause is None and cause is not None:
            self.cause = cause

    async def send(self, payload: Payload) -> Payload | BaseException:
        """One request through the call function; a transient failure comes back as a value.

        The caller holds `limiter` while it builds `payload` and sends it: every chunk task starts at
        once, and a payload built before waiting for a slot would keep one request's worth of wrapper
        objects alive per waiting chunk (a whole 10,000-item call's).

        A request still failing after the call function's own retries with a throttle, a 5xx or a
        wire error counts as a round in which nothing was processed; other errors end the chunk.
        """
        try:
            return await self.requester.send(self.operation, payload, resend=self.resend)
        except (AwsError, TransportError, DeadlineExceeded) as exc:
            return exc

    def retryable(self, error: BaseException) -> bool:
        if isinstance(error, DeadlineExceeded):
            return False
        # Puts and deletes are idempotent: a request whose reply was lost is sent again next round.
        return isinstance(error, OutcomeUnknown) or self.requester.retry.retryable(error)

    async def backoff(self, attempt: int) -> DeadlineExceeded | None:
        """Full-jitter backoff before round `attempt + 1`, under the deadline; the expiry is returned."""
        policy = self.requester.retry
        try:
            async with bounded(self.operation):
                await policy.sleep(policy.backoff(attempt))
        except DeadlineExceeded as exc:
            return exc
        return None

    def error(self, what: str, total: int, items: list[Any], unknown: list[Any]) -> UnprocessedItems:
        reason = "the deadline ran out"
        cause = self.cause
        if isinstance(cause, AwsError):
            reason = f"{cause.code} after retries"
        elif isinstance(cause, TransportError):
            reason = "the connection failed"
        elif cause is None:
            reason = f"still unprocessed after {self.rounds} rounds"
        message = f"{self.operation}: {len(items)} of {total} {what} not done ({reason})"
        if unknown:
            message += (
                f"; {len(unknown)} more were sent without a usable reply and may have been applied (.unknown)"
            )
        return UnprocessedItems(message, items=items, unknown=unknown, operation=self.operation)


def _maybe_applied(error: BaseException) -> bool:
    """Whether the request that ended in `error` may have been applied (its reply was lost)."""
    return isinstance(error, OutcomeUnknown | AwsError | DeadlineExceeded) and error.outcome_unknown


# ------------------------------------------------------------------------------------------ batch_get


class _GetRun:
    """One batch_get call: its unique keys, its request template, and the raw items found."""

    __slots__ = ("found", "keys", "rounds", "schema", "spec", "table")

    def __init__(self, rounds: _Rounds, schema: TableSchema[Any], table: str, spec: Payload) -> None:
        self.rounds = rounds
        self.schema = schema
        self.table = table
        self.spec = spec
        self.keys: list[Item] = []
        self.found: dict[tuple[object, ...], Item] = {}

    async def chunk(self, positions: list[int]) -> None:
        rounds = self.rounds
        schema = self.schema
        index = {schema.key_id(self.keys[p]): p for p in positions}
        pending = positions
        attempt = 1
        while True:
            async with rounds.limiter:
                payload: Payload = {
                    "RequestItems": {self.table: {**self.spec, "Keys": [self.keys[p] for p in pending]}}
                }
                reply = await rounds.send(payload)
            if isinstance(reply, BaseException):
                if not rounds.retryable(reply) or attempt >= rounds.rounds:
                    rounds.fail(pending, reply, _NONE)
                    return
            else:
                for item in reply.get("Responses", {}).get(self.table, ()):
                    self.found[schema.key_id(item)] = item
                left = (reply.get("UnprocessedKeys") or {}).get(self.table, {}).get("Keys") or ()
                if not left:
                    return
                pending = [index[schema.key_id(k)] for k in left]
                if attempt >= rounds.rounds:
                    rounds.fail(pending, None, _NONE)
                    return
            expired = await rounds.backoff(attempt)
            if expired is not None:
                rounds.fail(pending, expired, _NONE)
                return
            attempt += 1


async def batch_get(
    requester: Requester,
    model: type[M],
    keys: Iterable[object],
    *,
    consistent: bool = False,
    projection: Sequence[Attr[Any]] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    rounds: int = DEFAULT_ROUNDS,
) -> list[M | None]:
    """Read many items by key; the result follows `keys` in order, None where no item has the key.

    See `DB.batch_get`.
    """
    schema = schema_of(model)
    if isinstance(keys, str | bytes):
        raise ValidationError("batch_get takes a list of keys, not one key")
    table = requester.table_prefix + schema.table
    if schema.encrypted:
        requester.key_id(schema)  # fail closed before anything is sent
    run = _GetRun(_Rounds(requester, _GET, concurrency, rounds), schema, table, {})
    originals: list[object] = []  # the caller's key for each unique key, for UnprocessedItems
    seen: dict[tuple[object, ...], int] = {}
    order: list[int] = []
    for key in keys:
        item = schema.key_from(key)
        kid = schema.key_id(item)
        position = seen.get(kid)
        if position is None:
            position = seen[kid] = len(run.keys)
            run.keys.append(item)
            originals.append(key)
        order.append(position)
    if not run.keys:
        return []
    if consistent:
        run.spec["ConsistentRead"] = True
    if projection is not None:
        # Replies come back unordered: the key attributes must be projected to put results in place.
        wanted = list(projection)
        paths = {attr.path for attr in wanted}
        wanted.extend(
            getattr(model, a.field)
            for a in (schema.pk, schema.sk)
            if a is not None and (a.stored,) not in paths
        )
        params = Params()
        run.spec["ProjectionExpression"] = render_projection(wanted, params)
        params.apply(run.spec)
        run.spec.pop("ExpressionAttributeValues", None)
    positions = list(range(len(run.keys)))
    async with anyio.create_task_group() as tg:
        for start in range(0, len(positions), MAX_BATCH_GET):
            tg.start_soon(run.chunk, positions[start : start + MAX_BATCH_GET])
    failed = run.rounds.failed
    if failed:
        failed.sort()
        error = run.rounds.error("keys were", len(run.keys), [originals[p] for p in failed], [])
        raise error from run.rounds.cause
    if schema.encrypted:
        # Every item of every chunk at once: one Decrypt per distinct data key.
        await requester.open(schema, run.found.values(), table)
    decoded: list[M | None] = []
    cache: dict[int, M | None] = {}
    for position in order:
        if position in cache:
            decoded.append(cache[position])
            continue
        raw = run.found.get(schema.key_id(run.keys[position]))
        value: M | None = None if raw is None else schema.decode(raw)
        cache[position] = value
        decoded.append(value)
    hooks = schema.model.__aiotheory__.hooks
    if hooks is not None:
        for found in cache.values():  # each item once, however often its key was asked
            if found is not None:
                await after_read(hooks, found)
    return decoded


# ------------------------------------------------------------------------------------------ batch_write


class _WriteRun:
    """One batch_write call: its validated writes, puts first, each with the caller's object for
    UnprocessedItems.

    The writes are parallel lists indexed by position, not an object per write, and each request's
    `{"PutRequest": {"Item": ...}}` wrappers are built when it is sent and die with it: every write
    stays alive until the call ends, and each container kept per write is one more object for each
    full garbage collection during a large call to walk (a 10,000-item call ran three).
    """

    __slots__ = ("bodies", "origins", "puts", "rounds", "schemas", "tables")

    def __init__(self, rounds: _Rounds) -> None:
        self.rounds = rounds
        self.tables: list[str] = []
        self.schemas: list[TableSchema[Any]] = []
        self.bodies: list[Item] = []  # the (sealed) item of a put, the key of a delete
        self.origins: list[object] = []
        self.puts = 0  # positions below this are puts, the rest deletes

    def add(self, table: str, schema: TableSchema[Any], body: Item, origin: object) -> None:
        self.tables.append(table)
        self.schemas.append(schema)
        self.bodies.append(body)
        self.origins.append(origin)

    async def chunk(self, positions: list[int]) -> None:
        rounds = self.rounds
        tables = self.tables
        bodies = self.bodies
        puts = self.puts
        # Built only when DynamoDB hands writes back unprocessed, which a healthy table rarely does.
        index: dict[tuple[str, tuple[object, ...]], int] | None = None
        pending = positions
        tainted: set[int] = set()  # positions some request carried that left without a usable reply
        attempt = 1
        while True:
            async with rounds.limiter:
                request_items: dict[str, list[Payload]] = {}
                for p in pending:
                    table = tables[p]
                    requests = request_items.get(table)
                    if requests is None:
                        requests = request_items[table] = []
                    requests.append(
                        {"PutRequest": {"Item": bodies[p]}}
                        if p < puts
                        else {"DeleteRequest": {"Key": bodies[p]}}
                    )
                reply = await rounds.send({"RequestItems": request_items})
                del request_items  # the wrappers are garbage now, not kept through the backoff
            if isinstance(reply, BaseException):
                if _maybe_applied(reply):
                    tainted.update(pending)
                if not rounds.retryable(reply) or attempt >= rounds.rounds:
                    rounds.fail(pending, reply, tainted)
                    return
            else:
                left = reply.get("UnprocessedItems") or {}
                if not left:
                    return
                if index is None:
                    index = self._index(positions)
                schemas = {tables[p]: self.schemas[p] for p in positions}
                back = [
                    index[(table, schemas[table].key_id(_request_key(request)))]
                    for table, requests in left.items()
                    for request in requests
                ]
                if not back:
                    return
                pending = sorted(back)
                if attempt >= rounds.rounds:
                    rounds.fail(pending, None, tainted)
                    return
            expired = await rounds.backoff(attempt)
            if expired is not None:
                rounds.fail(pending, expired, tainted)
                return
            attempt += 1

    def _index(self, positions: list[int]) -> dict[tuple[str, tuple[object, ...]], int]:
        """Position of each write of a chunk by (table, key identity), to place what came back."""
        tables = self.tables
        schemas = self.schemas
        bodies = self.bodies
        return {(tables[p], schemas[p].key_id(bodies[p])): p for p in positions}


def _request_key(request: Payload) -> Item:
    put = request.get("PutRequest")
    if put is not None:
        item: Item = put["Item"]
        return item
    key: Item = request["DeleteRequest"]["Key"]
    return key


class _PutClass:
    """What a batch_write call looks up once per model class it puts, not once per item."""

    __slots__ = ("hooks", "schema", "stamps", "table")

    def __init__(self, requester: Requester, cls: type[Model]) -> None:
        schema = schema_of(cls)
        if schema.encrypted:
            requester.key_id(schema)  # fail closed before anything is sent (or any hook runs)
        self.schema = schema
        self.table = requester.table_prefix + schema.table
        self.hooks = schema.model.__aiotheory__.hooks
        # BatchWriteItem is never a create: only UpdatedAt and an empty CreatedAt are stamped.
        self.stamps = schema.updated_at is not None or schema.created_at is not None


async def batch_write(
    requester: Requester,
    *,
    put: Iterable[M] = (),
    delete: Iterable[object] = (),
    concurrency: int = DEFAULT_CONCURRENCY,
    rounds: int = DEFAULT_ROUNDS,
) -> list[M]:
    """Write many puts and deletes; returns the put items as written. See `DB.batch_write`."""
    run = _WriteRun(_Rounds(requester, _WRITE, concurrency, rounds))
    written: list[M] = []
    seen: set[tuple[str, tuple[object, ...]]] = set()
    classes: dict[type[Model], _PutClass] = {}
    clock = requester.clock
    hooked = encrypted = False
    for original in put:
        cls = type(original)
        known = classes.get(cls)
        if known is None:
            if not isinstance(original, Model):
                raise ValidationError(f"batch_write(put=...) takes model instances, not {cls.__name__}")
            known = classes[cls] = _PutClass(requester, cls)
            hooked = hooked or known.hooks is not None
            encrypted = encrypted or bool(known.schema.encrypted)
        schema = known.schema
        hooks = known.hooks
        given = original if hooks is None else await before_write(hooks, original)
        item = stamped(given, schema, clock, creating=False) if known.stamps else given
        encoded = schema.encode(item)
        table = known.table
        ident = (table, schema.key_id(encoded))
        if ident in seen:
            raise ValidationError(f"{_WRITE}: two writes to one key of {table} in one batch")
        seen.add(ident)
        run.add(table, schema, encoded, original)
        written.append(as_written(item, given, encoded))
    run.puts = len(run.bodies)
    for target in delete:
        schema, key = key_target(target, "batch_write(delete=...)")
        hooks = schema.model.__aiotheory__.hooks
        if hooks is not None:
            await before_delete(hooks, target if isinstance(target, Model) else key_model(schema, key))
        table = requester.table_prefix + schema.table
        ident = (table, schema.key_id(key))
        if ident in seen:
            raise ValidationError(f"{_WRITE}: two writes to one key of {table} in one batch")
        seen.add(ident)
        run.add(table, schema, key, target)
    del seen
    count = len(run.bodies)
    if not count:
        return written
    if encrypted:
        # Sealed once every write is validated: a bad item fails before any KMS request.
        bodies = run.bodies
        for p in range(run.puts):
            schema = run.schemas[p]
            if schema.encrypted:
                bodies[p] = await requester.seal(schema, bodies[p])
    positions = list(range(count))
    async with anyio.create_task_group() as tg:
        for start in range(0, count, MAX_BATCH_WRITE):
            tg.start_soon(run.chunk, positions[start : start + MAX_BATCH_WRITE])
    failed, unknown = run.rounds.failed, run.rounds.unknown
    if failed or unknown:
        failed.sort()
        unknown.sort()
        origins = run.origins
        error = run.rounds.error(
            "writes were", count, [origins[p] for p in failed], [origins[p] for p in unknown]
        )
        raise error from run.rounds.cause
    if hooked:
        for item in written:
            hooks = type(item).__aiotheory__.hooks
            if hooks is not None:
                await after_write(hooks, item)
    return written
