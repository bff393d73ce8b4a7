"""DynamoDB Streams records, as Lambda delivers them, decoded into model instances; partial batch replies.

Images are decoded by each model's compiled codec (no pydantic validation, like a read from the table).
Images of models with Encrypted fields are opened through a DB's KMS (`StreamRouter(..., db=db)`, then
the async `process` / `decrypted`). Imports models, errors and `_observe` (its logger) only: no transport,
no asyncio.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Generic, Literal, TypedDict, TypeVar, cast, get_args

from ._observe import logger as _logger
from .errors import UnknownEntity, ValidationError
from .model import Model, TableSchema, schema_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._types import Item
    from .db import DB

__all__ = [
    "BatchItemFailure",
    "BatchResponse",
    "EventName",
    "StreamRecord",
    "StreamRouter",
    "ViewType",
    "process",
]

M = TypeVar("M", bound=Model)

EventName = Literal["INSERT", "MODIFY", "REMOVE"]
ViewType = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]

_EVENT_NAMES: Final[frozenset[str]] = frozenset(get_args(EventName))
_VIEW_TYPES: Final[frozenset[str]] = frozenset(get_args(ViewType))
# TTL deletions carry this service principal in the record's userIdentity (DynamoDB Streams and TTL docs).
_TTL_PRINCIPAL: Final = "dynamodb.amazonaws.com"

_log: Final = _logger("aiotheory.streams")


class BatchItemFailure(TypedDict):
    """One failed record; for a DynamoDB stream the identifier is the record's SequenceNumber."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """Lambda's partial batch response (needs ReportBatchItemFailures on the event source mapping)."""

    batchItemFailures: list[BatchItemFailure]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRecord(Generic[M]):
    """One change to one item, decoded: what happened, to which key, and the images the view type carries.

    `new` is set for INSERT and MODIFY under NEW_IMAGE / NEW_AND_OLD_IMAGES; `old` for MODIFY and REMOVE
    under OLD_IMAGE / NEW_AND_OLD_IMAGES; KEYS_ONLY carries neither, only `keys`. `table` is the table
    name as the stream's ARN spells it (with any prefix). Item values stay out of `repr`.
    """

    event_name: EventName
    model: type[M]
    table: str
    keys: Mapping[str, object] = field(repr=False)
    new: M | None = field(default=None, repr=False)
    old: M | None = field(default=None, repr=False)
    sequence_number: str
    view_type: ViewType
    event_id: str = ""
    approximate_creation_time: datetime | None = None
    size_bytes: int | None = None
    region: str = ""
    stream_arn: str = ""
    #: True when DynamoDB's TTL process deleted the item (a REMOVE nobody asked for).
    by_ttl: bool = False

    @property
    def key(self) -> tuple[object, ...]:
        """The key values in (partition, sort) order: `await db.find(rec.model, *rec.key)`."""
        return tuple(self.keys.values())


class _Route(Generic[M]):
    """A table's model with its compiled schema, resolved once per router."""

    __slots__ = ("model", "schema")

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.schema: TableSchema[M] = schema_of(model)

    def decode_keys(self, raw: Item, table: str) -> dict[str, object]:
        # The schema's own key codecs: a datetime or UUID sort key reads back as the field's type.
        return self.schema.decode_key(raw, table=table)


class StreamRouter(Generic[M]):
    """Maps a stream record's table to its model and decodes the record; build it once, at module scope.

    Tables are matched by `table_prefix + Model's table`, so the router and the DB agree when both read
    the prefix from `AIOTHEORY_TABLE_PREFIX` (the default) or are given the same one
    (`StreamRouter(Payment, table_prefix=db.table_prefix)`).
    """

    __slots__ = ("_arns", "_by_table", "_db", "_shared", "table_prefix")

    def __init__(self, *models: type[M], table_prefix: str | None = None, db: DB | None = None) -> None:
        if not models:
            raise ValidationError("StreamRouter needs at least one model")
        # The DB whose KMS key opens Encrypted fields; its table prefix is the default prefix then.
        self._db = db
        if table_prefix is None:
            table_prefix = db.table_prefix if db is not None else os.environ.get("AIOTHEORY_TABLE_PREFIX", "")
        self.table_prefix = table_prefix
        by_table: dict[str, _Route[M]] = {}
        # Tables several of the models share (single-table design): discriminator attribute and
        # entity -> route; a record goes to the model its image's discriminator names.
        shared: dict[str, tuple[str, dict[str, _Route[M]]]] = {}
        for model in models:
            route = _Route(model)
            name = self.table_prefix + route.schema.table
            other = by_table.get(name)
            if other is None:
                by_table[name] = route
            elif other.model is not model:
                attribute = route.schema.discriminator
                if attribute is None or other.schema.entity == route.schema.entity:
                    raise ValidationError(
                        f"{model.__name__} and {other.model.__name__} both live in table {name!r} "
                        "as one entity; give them distinct entity= values"
                    )
                entities = shared.setdefault(name, (attribute, {other.schema.entity: other}))[1]
                entities[route.schema.entity] = route
        self._by_table = by_table
        self._shared = shared
        # stream ARN -> table name; a function reads a handful of streams, so this stays tiny.
        self._arns: dict[str, str] = {}

    @property
    def tables(self) -> tuple[str, ...]:
        """The table names this router knows, prefix included."""
        return tuple(self._by_table)

    def model_for(self, table: str) -> type[M]:
        """The model stored in `table` (prefix included); ValidationError for a table no model names."""
        return self._route(table).model

    def _route(self, table: str) -> _Route[M]:
        route = self._by_table.get(table)
        if route is None:
            known = ", ".join(sorted(self._by_table))
            raise ValidationError(
                f"no model for table {table!r} (known: {known}; table prefix {self.table_prefix!r})"
            )
        return route

    def _entity_route(self, table: str, body: Mapping[str, object], sequence: str) -> _Route[M]:
        attribute, entities = self._shared[table]
        image = body.get("NewImage") or body.get("OldImage")
        tag = None
        if isinstance(image, Mapping):
            av = image.get(attribute)
            if isinstance(av, Mapping):
                tag = av.get("S")
        route = entities.get(tag) if isinstance(tag, str) else None
        if route is None:
            why = "carries no image to tell" if image is None else f"has {attribute}={tag!r}"
            raise UnknownEntity(
                f"stream record {sequence} of shared table {table!r} {why} which model it is "
                f"(known: {', '.join(sorted(entities))})",
                entity=tag if isinstance(tag, str) else None,
                table=table,
            )
        return route

    def _table_of(self, arn: str) -> str:
        table = self._arns.get(arn)
        if table is None:
            table = _table_from_arn(arn)
            self._arns[arn] = table
        return table

    def record(self, raw: Mapping[str, object]) -> StreamRecord[M]:
        """One Lambda stream record decoded.

        Raises:
            ValidationError: not a DynamoDB stream record, or from a table no model of this router names,
                or of a model with Encrypted fields (use `await router.decrypted(event)` or `process`).
            DecodeError: a key or an image does not fit the model.
        """
        return self._record(raw, None)

    async def decrypted(self, event: Mapping[str, object]) -> list[StreamRecord[M]]:
        """Every record of a Lambda event decoded, Encrypted fields opened with the router's `db`.

        The images of all records are opened together: one KMS Decrypt per distinct data key.

        Raises:
            EncryptionNotConfigured: a model has Encrypted fields and the router has no `db` (or the
                DB no KMS key).
            DecryptionFailed: an envelope is malformed, moved or changed.
        """
        raws = _raw_records(event)
        images: list[dict[str, Item]] = []
        # (table, entity) -> the schema and images to open: entities of one table differ in what is sealed.
        tables: dict[tuple[str, str], tuple[TableSchema[M], list[Item]]] = {}
        for raw in raws:
            body = _mapping(raw.get("dynamodb"), "dynamodb")
            arn = raw.get("eventSourceARN")
            table = self._table_of(arn) if isinstance(arn, str) else ""
            route = self._by_table.get(table)
            if route is not None and table in self._shared:
                route = self._entity_route(table, body, _sequence_number(raw))
            opened: dict[str, Item] = {}
            if route is not None and route.schema.encrypted:
                group = tables.setdefault((table, route.schema.entity), (route.schema, []))
                for name in ("NewImage", "OldImage"):
                    image = body.get(name)
                    if image is not None:
                        # A copy: the event the caller holds keeps its envelopes.
                        copy = opened[name] = dict(cast("Item", _mapping(image, name)))
                        group[1].append(copy)
            images.append(opened)
        if tables:
            db = self._db
            if db is None:
                from .errors import EncryptionNotConfigured

                raise EncryptionNotConfigured(
                    "stream images with Encrypted fields need StreamRouter(..., db=db) to reach KMS"
                )
            for (name, _), (schema, items) in tables.items():
                await db._requester.open(schema, items, name)  # the DB's one seam to its encryption
        return [self._record(raw, opened) for raw, opened in zip(raws, images, strict=True)]

    def _record(self, raw: Mapping[str, object], opened: dict[str, Item] | None) -> StreamRecord[M]:
        if raw.get("eventSource", "aws:dynamodb") != "aws:dynamodb":
            raise ValidationError(f"not a DynamoDB stream record (eventSource {raw.get('eventSource')!r})")
        body = _mapping(raw.get("dynamodb"), "dynamodb")
        sequence = _sequence_number(raw)
        event_name = raw.get("eventName")
        if event_name not in _EVENT_NAMES:
            raise ValidationError(f"stream record {sequence}: unknown eventName {event_name!r}")
        view_type = body.get("StreamViewType")
        if view_type not in _VIEW_TYPES:
            raise ValidationError(f"stream record {sequence}: unknown StreamViewType {view_type!r}")
        arn = raw.get("eventSourceARN")
        if not isinstance(arn, str):
            raise ValidationError(f"stream record {sequence} has no eventSourceARN")
        table = self._table_of(arn)
        route = self._route(table)
        if table in self._shared:
            route = self._entity_route(table, body, sequence)
        keys = route.decode_keys(cast("Item", _mapping(body.get("Keys"), "dynamodb.Keys")), table)
        new_raw = body.get("NewImage")
        old_raw = body.get("OldImage")
        schema = route.schema
        if schema.encrypted:
            if opened is None:
                raise ValidationError(
                    f"{route.model.__name__} has Encrypted fields: decode its records with "
                    "`await router.decrypted(event)` or `router.process` on a router given db="
                )
            new_raw = opened.get("NewImage", new_raw)
            old_raw = opened.get("OldImage", old_raw)
        return StreamRecord(
            event_name=cast("EventName", event_name),
            model=route.model,
            table=table,
            keys=keys,
            new=None if new_raw is None else schema.decode(cast("Item", _mapping(new_raw, "NewImage"))),
            old=None if old_raw is None else schema.decode(cast("Item", _mapping(old_raw, "OldImage"))),
            sequence_number=sequence,
            view_type=cast("ViewType", view_type),
            event_id=str(raw.get("eventID", "")),
            approximate_creation_time=_creation_time(body.get("ApproximateCreationDateTime")),
            size_bytes=_int_or_none(body.get("SizeBytes")),
            region=str(raw.get("awsRegion", "")),
            stream_arn=arn,
            by_ttl=_by_ttl(raw.get("userIdentity")),
        )

    def records(self, event: Mapping[str, object]) -> list[StreamRecord[M]]:
        """Every record of a Lambda event decoded, in order; raises on the first that does not decode."""
        return [self.record(raw) for raw in _raw_records(event)]

    async def process(
        self,
        event: Mapping[str, object],
        handler: Callable[[StreamRecord[M]], Awaitable[object]],
        *,
        ordered: bool = True,
    ) -> BatchResponse:
        """Run `handler` on each record in stream order; return Lambda's partial batch response.

        A record that fails (it does not decode, or `handler` raises an Exception) is reported by its
        SequenceNumber instead of failing the whole batch. Lambda checkpoints at the lowest reported
        number and redelivers every record from there, so by default (`ordered`) processing stops at
        the first failure: the records after it are neither run twice nor run ahead of the one that
        failed. With `ordered=False` every record is tried and each failure reported; records after the
        first failure still come again, so the handler must be idempotent.

        Raises:
            ValidationError: the event is not a DynamoDB Streams event (no Records, a record without a
                SequenceNumber), before any handler runs: Lambda then retries the whole batch.
        """
        raws = _raw_records(event)
        sequences = [_sequence_number(raw) for raw in raws]
        failures: list[BatchItemFailure] = []
        for raw, sequence in zip(raws, sequences, strict=True):
            try:
                if self._encrypted(raw):
                    (record,) = await self.decrypted({"Records": [raw]})
                else:
                    record = self.record(raw)
                await handler(record)
            except Exception as exc:  # reported to Lambda, which retries it: not swallowed
                _log.error(
                    "stream record %s failed (%s); reported as a batch item failure",
                    sequence,
                    type(exc).__name__,
                    exc_info=exc,
                )
                failures.append({"itemIdentifier": sequence})
                if ordered:
                    break
        return {"batchItemFailures": failures}

    def _encrypted(self, raw: Mapping[str, object]) -> bool:
        arn = raw.get("eventSourceARN")
        if not isinstance(arn, str):
            return False
        table = self._table_of(arn)
        shared = self._shared.get(table)
        if shared is not None:
            # `_by_table` holds only the first model named for a shared table: ask whether any of its
            # entities is sealed (`decrypted` routes each record by its discriminator, plain ones too).
            return any(route.schema.encrypted for route in shared[1].values())
        route = self._by_table.get(table)
        return route is not None and bool(route.schema.encrypted)


async def process(
    event: Mapping[str, object],
    handler: Callable[[StreamRecord[M]], Awaitable[object]],
    *,
    models: StreamRouter[M] | Sequence[type[M]],
    ordered: bool = True,
) -> BatchResponse:
    """`StreamRouter.process` in one call; pass a router built at module scope to decide routes once.

    A sequence of models builds a router for this call, with the prefix from `AIOTHEORY_TABLE_PREFIX`.
    """
    router = models if isinstance(models, StreamRouter) else StreamRouter(*models)
    return await router.process(event, handler, ordered=ordered)


# ------------------------------------------------------------------------------------------ parsing


def _mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"stream record: {what} is missing or not an object")
    return value


def _raw_records(event: Mapping[str, object]) -> list[Mapping[str, object]]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise ValidationError("not a DynamoDB Streams event: no 'Records' list of objects")
    return records


def _sequence_number(raw: Mapping[str, object]) -> str:
    body = raw.get("dynamodb")
    sequence = body.get("SequenceNumber") if isinstance(body, Mapping) else None
    if not isinstance(sequence, str) or not sequence:
        # Lambda reads an empty or missing itemIdentifier as "the whole batch failed".
        raise ValidationError("not a DynamoDB stream record: no dynamodb.SequenceNumber")
    return sequence


def _table_from_arn(arn: str) -> str:
    # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL (a table ARN works too).
    parts = arn.split(":", 5)
    resource = parts[5].split("/") if len(parts) == 6 else []
    if len(resource) < 2 or resource[0] != "table" or not resource[1]:
        raise ValidationError(f"not a DynamoDB table or stream ARN: {arn!r}")
    return resource[1]


def _creation_time(value: object) -> datetime | None:
    # Lambda's JSON carries epoch seconds; botocore's GetRecords reply a datetime.
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    raise ValidationError("stream record: ApproximateCreationDateTime is not a time")


def _int_or_none(value: object) -> int | None:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return int(value)
    return None


def _by_ttl(identity: object) -> bool:
    if not isinstance(identity, Mapping):
        return False
    return identity.get("type") == "Service" and identity.get("principalId") == _TTL_PRINCIPAL
