"""Query and Scan builders: key conditions, filters, projections, indexes, pages with cursors.

Builders are immutable and check each argument when the method is called; nothing is sent until a builder
is awaited (`page`, `first`, `count`) or iterated. Every page fetch goes through the DB's requester (the
one call function), so the deadline scope and retries apply. A parallel scan runs in `_parallel`
(`ParallelScan`, `ScanStream`, re-exported here), which loads anyio (about 35 ms to import) only when
one starts.

Projections build partial models, never failing on a required field left out: only the projected fields
are set (one the item lacks reads as its default, as in a full decode); a field that was not projected is
absent, so reading it raises AttributeError instead of passing off a default as stored data, and
`repr`/`model_dump` show only what was read. `model_fields_set` names the fields read from the item.
Queries of a KEYS_ONLY or INCLUDE index without `project()` return partial models of what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar

from ._hooks import after_read
from ._parallel import ParallelScan, ScanStream
from .cursor import ReadOperation, SortOrder, checked_secret, decode_cursor, encode_cursor
from .errors import ValidationError
from .expr import Attr, Condition, Params, render_condition, render_key_condition, render_projection
from .expr._keys import analyse_key_condition, attribute_heads
from .model import Model, schema_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from typing import Self

    from ._requester import Requester
    from ._types import AttributeValue, Item, Payload
    from .entities import Collection
    from .model import IndexSchema, KeyAttr, TableSchema

__all__ = ["Page", "ParallelScan", "Query", "Scan", "ScanStream"]

M = TypeVar("M", bound=Model)

#: "TotalSegments: Minimum value of 1. Maximum value of 1000000."
_MAX_SEGMENTS: Final = 1_000_000
#: Parallel scan requests in flight when neither the caller nor the DB says.
_SCAN_CONCURRENCY: Final = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[M]):
    """One DynamoDB page and the cursor that continues after it (None on the last page).

    The page size is DynamoDB's Limit: the number of items *read*, before the filter. A page whose items
    all failed the filter is empty and still carries a cursor; keep paging until `cursor` is None.
    `scanned` is how many items DynamoDB read for this page; `skipped` how many items a collection query
    read but left out, their discriminator naming none of its models (docs/single-table.md).
    """

    items: list[M]
    cursor: str | None
    scanned: int = 0
    skipped: int = 0


def _positive(what: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError(f"{what} must be a positive int")
    return n


class _Read(Generic[M]):
    """What Query and Scan share: index, filter, projection, consistency, limits, cursors and paging."""

    _operation: ClassVar[ReadOperation]  # set by Query and Scan

    __slots__ = (
        "_consistent",
        "_decode",
        "_filter",
        "_index",
        "_limit",
        "_page_size",
        "_projection",
        "_requester",
        "_schema",
        "_secret",
    )

    def __init__(self, requester: Requester, model: type[M], *, secret: bytes | str | None = None) -> None:
        self._requester = requester
        self._schema: TableSchema[M] = schema_of(model)
        self._index: IndexSchema | None = None
        self._filter: Condition | None = None
        self._projection: tuple[Attr[Any], ...] = ()
        self._decode: Callable[[Item], M] = self._schema.decode
        self._consistent = False
        self._limit: int | None = None
        self._page_size: int | None = None
        self._secret = None if secret is None else checked_secret(secret)

    # ------------------------------------------------------------------------------------ builders

    def _copy(self) -> Self:
        new = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in cls.__dict__.get("__slots__", ()):
                object.__setattr__(new, slot, getattr(self, slot))
        return new

    def index(self, name: str) -> Self:
        """Read a GSI or LSI of the model instead of the table."""
        schema = self._schema
        indexes = self._indexes()
        found = next((ix for ix in indexes if ix.name == name), None)
        if found is None:
            known = ", ".join(repr(ix.name) for ix in indexes) or "none"
            raise ValidationError(f"{schema.model.__name__} has no index {name!r} (indexes: {known})")
        if self._consistent and found.kind == "GSI":
            raise ValidationError(f"GSI {name!r} cannot be read with ConsistentRead (GSIs are eventual)")
        new = self._copy()
        new._index = found
        new._revalidate()
        return new

    def _indexes(self) -> tuple[IndexSchema, ...]:
        return self._schema.indexes

    def filter(self, *conditions: Condition) -> Self:
        """Keep only items matching all `conditions` (ANDed with any earlier filter).

        DynamoDB applies the filter after reading a page, so it saves bandwidth, not read capacity.
        """
        if not conditions:
            raise ValidationError("filter() needs at least one condition")
        combined = self._filter
        for cond in conditions:
            if not isinstance(cond, Condition):
                raise ValidationError(f"filter() takes conditions, not a {type(cond).__name__}")
            combined = cond if combined is None else combined & cond
        new = self._copy()
        new._filter = combined
        new._check_filter()
        if new._schema.encrypted and combined is not None:
            from .encryption import refuse_in_condition

            refuse_in_condition(new._schema.encrypted, combined, f"filter on {new._schema.model.__name__}")
        return new

    def project(self, *attrs: Attr[Any]) -> Self:
        """Read only these top-level fields; items decode as partial models (see the module docstring)."""
        if not attrs:
            raise ValidationError("project() needs at least one field")
        model = self._schema.model
        fields: list[str] = []
        for attr in attrs:
            if not isinstance(attr, Attr) or attr.field is None or len(attr.path) != 1:
                raise ValidationError(f"project() takes top-level fields of {model.__name__} (Model.field)")
            if attr.field not in model.__pydantic_fields__ or self._schema.stored(attr.field) != attr.path[0]:
                raise ValidationError(f"{attr!r} is not a field of {model.__name__}")
            fields.append(attr.field)
        render_projection(list(attrs), Params())  # overlap and 4 KB limits, now rather than at send time
        new = self._copy()
        new._projection = tuple(attrs)
        new._revalidate()
        return new

    def consistent(self, on: bool = True) -> Self:
        """Strongly consistent reads (twice the read capacity); not available on a GSI."""
        if on and self._index is not None and self._index.kind == "GSI":
            raise ValidationError(
                f"GSI {self._index.name!r} cannot be read with ConsistentRead (DynamoDB: GSIs are eventual)"
            )
        new = self._copy()
        new._consistent = bool(on)
        return new

    def limit(self, n: int) -> Self:
        """Stop after `n` matching items in total (iteration, `count()`); `page()` has its own `size`."""
        new = self._copy()
        new._limit = _positive("limit", n)
        return new

    def page_size(self, n: int) -> Self:
        """DynamoDB's Limit for each request while iterating: items read per page, before the filter."""
        new = self._copy()
        new._page_size = _positive("page_size", n)
        return new

    def signed(self, secret: bytes | str) -> Self:
        """Sign the cursors returned (HMAC-SHA256) and accept only cursors signed with `secret`."""
        new = self._copy()
        new._secret = checked_secret(secret)
        return new

    # ---------------------------------------------------------------------------------- validation

    def _revalidate(self) -> None:
        """Re-check what depends on the index: projection fits it, decoder matches what it returns."""
        schema = self._schema
        index = self._index
        by_stored = {p.stored: p.name for p in schema.plans if not p.ignore}
        projected: frozenset[str] | None = None  # fields the index holds, when it holds fewer than all
        if index is not None and index.projection != "ALL":
            stored = {a.stored for a in (schema.pk, schema.sk, index.pk, index.sk) if a is not None}
            stored.update(index.include)
            projected = frozenset(by_stored[s] for s in stored if s in by_stored)
        if self._projection:
            wanted = frozenset(a.field for a in self._projection if a.field is not None)
            gsi = index is not None and index.kind == "GSI"
            if projected is not None and index is not None and gsi and not wanted <= projected:
                missing = ", ".join(sorted(wanted - projected))
                raise ValidationError(
                    f"GSI {index.name!r} does not project {missing}; it cannot be read there"
                )
            self._decode = schema.partial(wanted)
        elif projected is not None:
            self._decode = schema.partial(projected)
        else:
            self._decode = schema.decode
        self._check_filter()

    def _check_filter(self) -> None:
        if self._filter is not None:
            render_condition(self._filter, Params())  # 4 KB limit, now rather than at send time

    def _key_attrs(self) -> tuple[KeyAttr, KeyAttr | None]:
        index = self._index
        if index is None:
            return self._schema.pk, self._schema.sk
        return index.pk, index.sk

    def _key_types(self) -> dict[str, str]:
        """The attributes a start key holds: the queried index's keys and the table's."""
        schema = self._schema
        index = self._index
        attrs = [schema.pk, schema.sk] + ([index.pk, index.sk] if index is not None else [])
        return {a.stored: a.type for a in attrs if a is not None}

    # ------------------------------------------------------------------------------------ requests

    def _sort(self) -> SortOrder:
        return "ASC"

    def _payload(self, *, count: bool) -> Payload:
        """The request without Limit or ExclusiveStartKey: rendered once per page(), count() or iteration."""
        params = Params()
        payload: Payload = {"TableName": self._requester.table_prefix + self._schema.table}
        if self._index is not None:
            payload["IndexName"] = self._index.name
        self._add_key(payload, params)
        if self._filter is not None:
            payload["FilterExpression"] = render_condition(self._filter, params)
        if count:
            payload["Select"] = "COUNT"
        elif self._projection:
            payload["ProjectionExpression"] = render_projection(list(self._projection), params)
        if self._consistent:
            payload["ConsistentRead"] = True
        self._add_options(payload)
        params.apply(payload)
        return payload

    def _add_key(self, payload: Payload, params: Params) -> None:
        return None

    def _add_options(self, payload: Payload) -> None:
        return None

    def _start_key(self, cursor: str) -> Item:
        index = self._index
        decoded = decode_cursor(
            cursor,
            secret=self._secret,
            index=None if index is None else index.name,
            sort=self._sort(),
            key_types=self._key_types(),
            table=self._requester.table_prefix + self._schema.table,
            operation=self._operation,
        )
        return decoded.last_key

    def _cursor(self, last_key: Item | None) -> str | None:
        if last_key is None:
            return None
        index = self._index
        return encode_cursor(
            last_key,
            index=None if index is None else index.name,
            sort=self._sort(),
            secret=self._secret,
            table=self._requester.table_prefix + self._schema.table,
            operation=self._operation,
        )

    def _ready(self) -> None:
        return None

    # ----------------------------------------------------------------------------------- execution

    async def page(self, *, size: int | None = None, cursor: str | None = None) -> Page[M]:
        """One request: up to `size` items read (DynamoDB's Limit), continuing after `cursor`.

        The page may hold fewer than `size` items, or none, when the filter dropped what was read;
        `Page.cursor` is None only once the whole result has been read.

        Raises:
            ValidationError: a bad size, or a cursor that does not decode, was tampered with, or belongs
                to another index, order, key schema or partition (before any request).
        """
        self._ready()
        request = self._payload(count=False)
        if size is not None:
            request["Limit"] = _positive("page size", size)
        if cursor is not None:
            request["ExclusiveStartKey"] = self._start_key(cursor)
        schema = self._schema
        if schema.encrypted:
            self._requester.key_id(schema)  # fail closed before anything is sent
        reply = await self._requester.send(self._operation, request)
        decode = self._decode
        raws = reply.get("Items", ())
        if schema.encrypted:
            await self._requester.open(schema, raws, request["TableName"])
        items = [decode(raw) for raw in raws]
        hooks = schema.model.__aiotheory__.hooks
        if hooks is not None:
            for item in items:
                await after_read(hooks, item)
        cursor = self._cursor(reply.get("LastEvaluatedKey"))
        return Page(items=items, cursor=cursor, scanned=int(reply.get("ScannedCount", 0)))

    async def first(self) -> M | None:
        """The first matching item, or None when nothing matches (reads pages until one matches)."""
        self._ready()
        request = self._payload(count=False)
        if self._page_size is not None:
            request["Limit"] = self._page_size
        elif self._filter is None:
            request["Limit"] = 1
        schema = self._schema
        if schema.encrypted:
            self._requester.key_id(schema)  # fail closed before anything is sent
        while True:
            reply = await self._requester.send(self._operation, request)
            items = reply.get("Items")
            if items:
                if schema.encrypted:
                    await self._requester.open(schema, items[:1], request["TableName"])
                found = self._decode(items[0])
                hooks = schema.model.__aiotheory__.hooks
                if hooks is not None:
                    await after_read(hooks, found)
                return found
            start = reply.get("LastEvaluatedKey")
            if start is None:
                return None
            request = {**request, "ExclusiveStartKey": start}

    async def count(self) -> int:
        """How many items match (Select=COUNT over all pages), at most `limit` when one is set."""
        self._ready()
        if self._schema.encrypted:
            self._requester.key_id(self._schema)  # fail closed before anything is sent
        payload = self._payload(count=True)
        limit = self._limit
        total = 0
        start: Item | None = None
        while True:
            request = self._next_request(payload, start, None if limit is None else limit - total)
            reply = await self._requester.send(self._operation, request)
            total += int(reply.get("Count", 0))
            start = reply.get("LastEvaluatedKey")
            if limit is not None and total >= limit:
                return limit
            if start is None:
                return total

    def _next_request(self, payload: Payload, start: Item | None, remaining: int | None) -> Payload:
        size = self._page_size
        # Without a filter every item read matches, so reading no more than are still wanted is exact.
        if remaining is not None and self._filter is None and (size is None or remaining < size):
            size = remaining
        if start is None and size is None:
            return payload
        request = dict(payload)
        if size is not None:
            request["Limit"] = size
        if start is not None:
            request["ExclusiveStartKey"] = start
        return request

    def __aiter__(self) -> AsyncIterator[M]:
        """A fresh iterator over every matching item, all pages, stopping at `limit`."""
        self._ready()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[M]:
        payload = self._payload(count=False)
        schema = self._schema
        sealed = schema.encrypted
        if sealed:
            self._requester.key_id(schema)  # fail closed before anything is sent
        decode = self._decode
        send = self._requester.send
        operation = self._operation
        remaining = self._limit
        hooks = self._schema.model.__aiotheory__.hooks
        start: Item | None = None
        while True:
            reply = await send(operation, self._next_request(payload, start, remaining))
            raws = reply.get("Items", ())
            if sealed:
                # The whole page at once: one Decrypt per distinct data key, not per item.
                await self._requester.open(schema, raws, payload["TableName"])
            for raw in raws:
                item = decode(raw)
                if hooks is not None:
                    await after_read(hooks, item)
                yield item
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return
            start = reply.get("LastEvaluatedKey")
            if start is None:
                return

    def __repr__(self) -> str:
        parts = [self._schema.model.__name__]
        if self._index is not None:
            parts.append(f"index={self._index.name!r}")
        parts.extend(self._repr_parts())
        if self._filter is not None:
            parts.append(f"filter={self._filter}")
        if self._projection:
            parts.append("project=" + ",".join(str(a.field) for a in self._projection))
        if self._limit is not None:
            parts.append(f"limit={self._limit}")
        return f"<{type(self).__name__} {' '.join(parts)}>"

    def _repr_parts(self) -> list[str]:
        return []


class Query(_Read[M]):
    """`db.query(Payment).key(Payment.partner_id == "p1", Payment.id.begins_with("pay_"))`: one partition.

    The key condition is the partition key's `=`, optionally with one sort key test (`=`, `<`, `<=`, `>`,
    `>=`, `between`, `begins_with`), checked against the table's or the chosen index's keys.
    """

    _operation: ClassVar[ReadOperation] = "Query"

    __slots__ = ("_forward", "_key", "_partition")

    def __init__(self, requester: Requester, model: type[M], *, secret: bytes | str | None = None) -> None:
        super().__init__(requester, model, secret=secret)
        self._key: Condition | None = None
        self._partition: AttributeValue | None = None
        self._forward = True

    def key(self, *conditions: Condition) -> Self:
        """The key condition: the partition key's `=` and at most one sort key test (replaces any earlier).

        Raises:
            ValidationError: a condition DynamoDB does not accept as a key condition of the table or
                chosen index (a non-key attribute, a second sort key test, `<>`, OR, ...).
        """
        if not conditions:
            raise ValidationError("key() needs the partition key condition, e.g. Payment.partner_id == 'p1'")
        combined: Condition | None = None
        for cond in conditions:
            if not isinstance(cond, Condition):
                raise ValidationError(f"key() takes conditions, not a {type(cond).__name__}")
            combined = cond if combined is None else combined & cond
        new = self._copy()
        new._key = combined
        new._check_key()
        new._check_filter()
        return new

    def descending(self) -> Self:
        """Newest (highest sort key) first: ScanIndexForward=false."""
        new = self._copy()
        new._forward = False
        return new

    def ascending(self) -> Self:
        """Lowest sort key first (DynamoDB's default)."""
        new = self._copy()
        new._forward = True
        return new

    def _revalidate(self) -> None:
        super()._revalidate()
        self._check_key()

    def _check_key(self) -> None:
        key = self._key
        if key is None:
            return
        pk, sk = self._key_attrs()
        sk_name = None if sk is None else sk.stored
        found = analyse_key_condition(key, pk=pk.stored, sk=sk_name)
        if self._schema.encrypted:
            from .encryption import refuse_in_condition

            refuse_in_condition(
                self._schema.encrypted, key, f"key condition on {self._schema.model.__name__}"
            )
        render_key_condition(key, Params(), pk=pk.stored, sk=sk_name)  # 4 KB limit, now rather than at send
        if sk is not None and sk.type == "N" and found.sort == "begins_with":
            raise ValidationError(f"begins_with() needs a string or binary sort key; {sk.field!r} is numeric")
        partition = found.partition
        if partition is not None and partition.get(pk.type) == "":
            raise ValidationError(
                f"{self._schema.model.__name__}.{pk.field}: DynamoDB does not accept an empty partition "
                "key value"
            )
        self._partition = partition

    def _check_filter(self) -> None:
        """DynamoDB: "A filter expression cannot contain partition key or sort key attributes"."""
        if self._filter is None:
            return
        render_condition(self._filter, Params())  # 4 KB limit, now rather than at send time
        heads = attribute_heads(self._filter)
        pk, sk = self._key_attrs()
        for attr in (pk, sk):
            if attr is not None and attr.stored in heads:
                raise ValidationError(
                    f"a Query filter cannot test the key attribute {attr.field!r}; put it in key() instead"
                )

    def _ready(self) -> None:
        if self._key is None:
            raise ValidationError("a query needs a key condition: .key(Model.pk_field == value)")

    def _sort(self) -> SortOrder:
        return "ASC" if self._forward else "DESC"

    def _add_key(self, payload: Payload, params: Params) -> None:
        pk, sk = self._key_attrs()
        assert self._key is not None  # _ready() ran
        payload["KeyConditionExpression"] = render_key_condition(
            self._key, params, pk=pk.stored, sk=None if sk is None else sk.stored
        )

    def _add_options(self, payload: Payload) -> None:
        if not self._forward:
            payload["ScanIndexForward"] = False

    def _start_key(self, cursor: str) -> Item:
        start = super()._start_key(cursor)
        pk = self._key_attrs()[0]
        if self._partition is not None and start[pk.stored] != self._partition:
            raise ValidationError("the cursor belongs to another partition than this query reads")
        return start

    def _repr_parts(self) -> list[str]:
        parts = [] if self._key is None else [f"key={self._key}"]
        if not self._forward:
            parts.append("descending")
        return parts


class Scan(_Read[M]):
    """`db.scan(Payment)`: every item of the table or index, optionally filtered, one segment or many."""

    _operation: ClassVar[ReadOperation] = "Scan"

    __slots__ = ("_concurrency", "_segment")

    def __init__(
        self,
        requester: Requester,
        model: type[M],
        *,
        secret: bytes | str | None = None,
        concurrency: int = _SCAN_CONCURRENCY,
    ) -> None:
        super().__init__(requester, model, secret=secret)
        self._segment: tuple[int, int] | None = None
        self._concurrency = concurrency

    def segment(self, segment: int, total: int) -> Self:
        """Scan one segment of `total` (for spreading a scan over workers; cursors continue the segment)."""
        total = _positive("total segments", total)
        if total > _MAX_SEGMENTS:
            raise ValidationError(f"DynamoDB allows at most {_MAX_SEGMENTS} segments")
        if isinstance(segment, bool) or not isinstance(segment, int) or not 0 <= segment < total:
            raise ValidationError(f"segment must be an int from 0 to {total - 1}")
        new = self._copy()
        new._segment = (segment, total)
        return new

    def parallel(self, segments: int, *, concurrency: int | None = None) -> ParallelScan[M]:
        """Scan `segments` segments at once, at most `concurrency` requests in flight.

        `concurrency` defaults to the DB's `sizing.scan_concurrency` (from the Lambda's memory, or 4).

        Use it as `async with db.scan(M).parallel(8) as items: async for item in items: ...`. The block
        owns the segment tasks: leaving it (at the end, by break, on error or deadline) cancels them all,
        and an error of any segment cancels the others and is raised. Items arrive in no fixed order.
        """
        if self._segment is not None:
            raise ValidationError("a scan restricted to one segment() cannot also be parallel()")
        segments = _positive("segments", segments)
        if segments > _MAX_SEGMENTS:
            raise ValidationError(f"DynamoDB allows at most {_MAX_SEGMENTS} segments")
        limit = self._concurrency if concurrency is None else _positive("concurrency", concurrency)
        if self._schema.encrypted:
            self._requester.key_id(self._schema)  # fail closed before anything is sent
        return ParallelScan(
            self._requester,
            self._payload(count=False),
            self._decode,
            hooks=self._schema.model.__aiotheory__.hooks,
            page_size=self._page_size,
            limit=self._limit,
            segments=segments,
            concurrency=min(limit, segments),
            sealed=self._schema if self._schema.encrypted else None,
        )

    def _add_options(self, payload: Payload) -> None:
        if self._segment is not None:
            payload["Segment"], payload["TotalSegments"] = self._segment

    def _repr_parts(self) -> list[str]:
        return [] if self._segment is None else [f"segment={self._segment[0]}/{self._segment[1]}"]


async def _after_read(item: Model) -> None:
    """Run `item`'s own after_read hook (a collection's items are of several models)."""
    hooks = type(item).__aiotheory__.hooks
    if hooks is not None:
        await after_read(hooks, item)


class _CollectionQuery(Query[M]):
    """A query of several models sharing one table (`db.query(Customer | Order)`), in sort-key order.

    Each item is decoded as the model its discriminator names; others are skipped and counted in
    `Page.skipped`, or raise UnknownEntity (`Collection(..., unknown="raise")`). It reads every index
    any member declares; projections are not offered (each member would project other fields).
    """

    __slots__ = ("_collection", "_dispatch")

    def __init__(
        self, requester: Requester, collection: Collection[M], *, secret: bytes | str | None = None
    ) -> None:
        self._collection = collection
        super().__init__(requester, collection.schema.model, secret=secret)
        self._decode = self._dispatch = collection.decoder()

    def _indexes(self) -> tuple[IndexSchema, ...]:
        return self._collection.indexes()

    def project(self, *attrs: Attr[Any]) -> Self:
        raise ValidationError("a collection query cannot project(); query one model to read some fields")

    def _revalidate(self) -> None:
        index = self._index
        if index is not None and index.projection != "ALL":
            raise ValidationError(
                f"index {index.name!r} projects {index.projection}; a collection reads ALL-projected "
                "indexes only (the discriminator and every field must be there)"
            )
        self._decode = self._dispatch = self._collection.decoder()
        self._check_filter()
        self._check_key()

    async def page(self, *, size: int | None = None, cursor: str | None = None) -> Page[M]:
        self._ready()
        request = self._payload(count=False)
        if size is not None:
            request["Limit"] = _positive("page size", size)
        if cursor is not None:
            request["ExclusiveStartKey"] = self._start_key(cursor)
        self._fail_closed()
        reply = await self._requester.send(self._operation, request)
        raws = reply.get("Items", ())
        await self._open(raws, request["TableName"])
        decode: Callable[[Item], M | None] = self._decode  # None: an item of no member (skipped)
        decoded = [decode(raw) for raw in raws]
        items = [obj for obj in decoded if obj is not None]
        if self._dispatch.hooked:
            for item in items:
                await _after_read(item)
        return Page(
            items=items,
            cursor=self._cursor(reply.get("LastEvaluatedKey")),
            scanned=int(reply.get("ScannedCount", 0)),
            skipped=len(decoded) - len(items),
        )

    async def first(self) -> M | None:
        self._ready()
        request = self._payload(count=False)
        if self._page_size is not None:
            request["Limit"] = self._page_size
        decode: Callable[[Item], M | None] = self._decode  # None: an item of no member (skipped)
        dispatch = self._dispatch
        self._fail_closed()
        while True:
            reply = await self._requester.send(self._operation, request)
            for raw in reply.get("Items", ()):
                await self._open((raw,), request["TableName"])  # only the item returned is opened
                obj = decode(raw)
                if obj is not None:
                    if dispatch.hooked:
                        await _after_read(obj)
                    return obj
            start = reply.get("LastEvaluatedKey")
            if start is None:
                return None
            request = {**request, "ExclusiveStartKey": start}

    async def _iterate(self) -> AsyncIterator[M]:
        payload = self._payload(count=False)
        decode: Callable[[Item], M | None] = self._decode  # None: an item of no member (skipped)
        hooked = self._dispatch.hooked
        send = self._requester.send
        operation = self._operation
        remaining = self._limit
        start: Item | None = None
        self._fail_closed()
        while True:
            # Items of other types may be skipped, so never shrink the page to what is still wanted.
            reply = await send(operation, self._next_request(payload, start, None))
            raws = reply.get("Items", ())
            await self._open(raws, payload["TableName"])
            for raw in raws:
                obj = decode(raw)
                if obj is None:
                    continue
                if hooked:
                    await _after_read(obj)
                yield obj
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return
            start = reply.get("LastEvaluatedKey")
            if start is None:
                return

    async def count(self) -> int:
        raise ValidationError("a collection query cannot count() by type; iterate it, or count one model")

    def _fail_closed(self) -> None:
        """Raise EncryptionNotConfigured before anything is sent when a member's KMS key is missing."""
        for schema in self._dispatch.sealed:
            self._requester.key_id(schema)

    async def _open(self, raws: Sequence[Item], table: str) -> None:
        """Open, in place, the Encrypted attributes of a page's items, each with its own member's schema:
        members seal different fields, maybe under different keys. One Decrypt per distinct data key of
        each member, for the whole page."""
        dispatch = self._dispatch
        if not dispatch.sealed:
            return
        groups: dict[str, tuple[TableSchema[Any], list[Item]]] = {}
        for raw in raws:
            schema = dispatch.member(raw)
            if schema is not None and schema.encrypted:
                groups.setdefault(schema.entity, (schema, []))[1].append(raw)
        for schema, items in groups.values():
            await self._requester.open(schema, items, table)

    def __repr__(self) -> str:
        return super().__repr__().replace(self._schema.model.__name__, repr(self._collection), 1)
