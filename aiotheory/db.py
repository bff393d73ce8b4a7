"""The DB facade: configuration, the transport's life, and CRUD; every other operation delegates.

`get`/`find`/`put`/`create`/`replace`/`update`/`delete` are written here; table management lives in
`_tables`, the write rules in `_writes`, queries in `query`, batches in `batch` and transactions in
`transact`, all of which take the DB's `Requester` (`_requester`) rather than the DB. Knows models,
expressions and the call function; knows nothing of HTTP. Constructing a DB does no I/O and imports no
transport: the transport is created on first use, inside the running loop.

One job, the facade, though over 600 lines: most of it is the public methods' signatures and
docstrings, and the transport factory (`transport`, `_bind_transport`, `_make_transport`) is on its
way to `transport/`.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import os
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

from . import _tables
from ._call import call
from ._hooks import after_read, after_write, before_delete, before_write, key_model
from ._requester import Requester
from ._sizing import sizing
from ._writes import (
    attach_old,
    create_guard,
    key_in,
    rendered_create_guard,
    same_item,
    save_actions,
    shallow_copy,
    stamped,
    stored_of,
    update_landed,
    update_plan,
    version_guard,
)
from ._writes import idempotent as idempotent_actions
from .errors import (
    ConditionFailed,
    ItemNotFound,
    MissingExtra,
    OutcomeUnknown,
    TransactionCanceled,
    ValidationError,
)
from .expr import Attr, Condition, Params, Update, render_condition, render_update
from .model import Model, TableSchema, schema_of
from .retries import RetryPolicy, policy_from_env
from .schema import MISSING, STORED

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType, UnionType

    from ._tables import MigrationPlan
    from ._types import AttributeValue, Item, Payload
    from .credentials import CredentialProvider, CredentialsLike
    from .encryption import DataKeyPolicy, Encryption
    from .entities import Collection
    from .lease import Lease
    from .query import Query, Scan
    from .transact import Transaction
    from .transport.base import Transport

__all__ = ["DB", "TransportName"]

M = TypeVar("M", bound=Model)
#: The transports a DB builds by name (the same alias as `transport._factory.TransportName`).
TransportName = Literal["lean", "botocore"]


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class DB:
    """One DynamoDB endpoint + credentials + table prefix; every model operation goes through it.

    Safe to build at module scope: no I/O, no transport import. The transport (and its connections)
    is created on first use inside the running loop and reused until `close()`.

    Args:
        credentials: `(key id, secret)` or `(key id, secret, session token)`, a `Credentials`, or a
            credential provider; None resolves the environment, then botocore's full chain.
        session: an aioboto3/aiobotocore session used as credential source (and by the botocore transport).
        table_prefix: prepended to every model's table name (per-environment tables); defaults to the
            `AIOTHEORY_TABLE_PREFIX` environment variable, else "".
        transport: "lean" (our own HTTP/1.1 + SigV4 wire), "botocore" (aiobotocore), or a Transport.
        clock: returns the current UTC time for CreatedAt / UpdatedAt fields; injectable for tests.
        cursor_secret: when set, every query/scan cursor this DB hands out is HMAC-signed with it and
            checked when it comes back, so API clients cannot forge start keys.
        pool_size, batch_concurrency, scan_concurrency: connections per endpoint, batch requests and
            parallel-scan requests in flight; each defaults from the Lambda function's memory
            (`aiotheory.aws_lambda.sizing`), or 64 / 8 / 4 outside Lambda.
        kms_key_id: the KMS key (id, ARN or alias) sealing `Encrypted` fields (docs/encryption.md).
        kms_endpoint_url: where KMS requests go; else `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL` /
            the region's public endpoint. KMS always uses the lean wire, whatever `transport` is.
        kms_transport: a Transport for KMS requests instead (tests: a fake KMS at the seam).
        data_keys: how long data keys are reused and cached (`DataKeyPolicy()` by default).

    Raises:
        MissingExtra: `transport="botocore"` without the `aiotheory[botocore]` extra installed.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: CredentialsLike = None,
        session: object = None,
        table_prefix: str | None = None,
        transport: TransportName | Transport = "lean",
        retry: RetryPolicy | None = None,
        clock: Callable[[], _dt.datetime] = _utcnow,
        cursor_secret: bytes | str | None = None,
        pool_size: int | None = None,
        batch_concurrency: int | None = None,
        scan_concurrency: int | None = None,
        kms_key_id: str | None = None,
        kms_endpoint_url: str | None = None,
        kms_transport: Transport | None = None,
        data_keys: DataKeyPolicy | None = None,
    ) -> None:
        if isinstance(transport, str) and transport not in ("lean", "botocore"):
            raise ValidationError(f"transport must be 'lean', 'botocore' or a Transport, got {transport!r}")
        # Checked here, not at the first call, and without importing aiobotocore (about 300 ms).
        if transport == "botocore" and importlib.util.find_spec("aiobotocore") is None:
            raise MissingExtra(
                'transport="botocore" needs aiobotocore: pip install "aiotheory[botocore]"',
                extra="botocore",
                name="aiobotocore",
            )
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.endpoint_url = endpoint_url
        self.table_prefix = (
            table_prefix if table_prefix is not None else os.environ.get("AIOTHEORY_TABLE_PREFIX", "")
        )
        self._credentials = credentials
        self._session = session
        # Resolved once, on first use (no I/O), and shared with the lean transport and Accounts.
        self._provider: CredentialProvider | None = None
        self._transport_spec = transport
        self._transport: Transport | None = None if isinstance(transport, str) else transport
        self._retry = retry if retry is not None else policy_from_env()
        self._clock = clock
        if cursor_secret is not None and len(cursor_secret) < 16:
            raise ValidationError("cursor_secret needs at least 16 bytes: a short secret makes forgery cheap")
        self.cursor_secret = cursor_secret
        # Sized from the Lambda's memory (a 128 MB function cannot drive 64 connections); any argument wins.
        self.sizing = sizing(
            pool_size=pool_size, batch_concurrency=batch_concurrency, scan_concurrency=scan_concurrency
        )
        self._closed = False
        if kms_key_id is not None and (not isinstance(kms_key_id, str) or not kms_key_id):
            raise ValidationError("kms_key_id must be a non-empty string")
        self.kms_key_id = kms_key_id
        self.kms_endpoint_url = kms_endpoint_url
        self._kms_spec = kms_transport
        self._kms: Transport | None = kms_transport
        self._data_keys = data_keys
        self._encryption: Encryption | None = None
        # What the operations (queries, batches, transactions, tables) send through; it reads the
        # transport from this DB's `transport` property on every send.
        self._requester = Requester(self, self._retry, self.table_prefix, self._clock, kms_key_id)

    def __repr__(self) -> str:
        # Settings only: credentials, session and cursor secret stay out (reprs end up in logs).
        spec = self._transport_spec
        kind = spec if isinstance(spec, str) else type(spec).__name__
        return (
            f"DB(region={self.region!r}, endpoint_url={self.endpoint_url!r}, "
            f"table_prefix={self.table_prefix!r}, transport={kind!r})"
        )

    # ----------------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport and its connections; the DB may not be used afterwards."""
        self._closed = True
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.close()
        kms, self._kms = self._kms, None
        if kms is not None and kms is not self._kms_spec:
            await kms.close()

    def derive(
        self,
        *,
        region: str | None = None,
        credentials: CredentialsLike = MISSING,
        table_prefix: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], _dt.datetime] | None = None,
        transport: TransportName | Transport | None = None,
    ) -> DB:
        """A new DB with the same endpoint, transport kind and settings except those given.

        The new DB shares no connection: its transport is created on its own first use. A DB built
        with a Transport instance shares that instance (closing either closes it) unless `transport`
        replaces it (accounts: a partner's DB gets its own signing transport).
        """
        return DB(
            region=region if region is not None else self.region,
            endpoint_url=self.endpoint_url,
            credentials=self._credentials if credentials is MISSING else credentials,
            session=self._session,
            table_prefix=table_prefix if table_prefix is not None else self.table_prefix,
            transport=self._transport_spec if transport is None else transport,
            retry=retry if retry is not None else self._retry,
            clock=clock if clock is not None else self._clock,
            cursor_secret=self.cursor_secret,
            pool_size=self.sizing.pool_size,
            batch_concurrency=self.sizing.batch_concurrency,
            scan_concurrency=self.sizing.scan_concurrency,
            kms_key_id=self.kms_key_id,
            kms_endpoint_url=self.kms_endpoint_url,
            kms_transport=self._kms_spec,
            data_keys=self._data_keys,
        )

    @property
    def credential_provider(self) -> CredentialProvider:
        """The provider behind this DB's credentials (explicit, environment, session or botocore chain).

        Resolving it does no I/O; credentials are fetched on the provider's first `get()`.
        """
        provider = self._provider
        if provider is None:
            from .credentials import resolve

            provider = self._provider = resolve(self._credentials, self._session)
        return provider

    def register(self, *models: type[Model]) -> None:
        """Compile the models' schemas and codecs now (Lambda init phase); does no I/O."""
        for model in models:
            schema_of(model)

    def table_name(self, model: type[Model]) -> str:
        """The table `model` lives in for this DB (the prefix applied)."""
        return self.table_prefix + schema_of(model).table

    @property
    def transport(self) -> Transport:
        """The transport, created on first access (no I/O happens until the first send).

        Loop binding lives in the transport, not here: a transport the DB made itself rebinds cleanly
        when used from a new loop after its loop closed (`asyncio.run` per Lambda invocation), and
        raises ValidationError when used from a second loop while the first is still open. A Transport
        passed in by the caller is used as given.
        """
        transport = self._transport
        if transport is None:
            transport = self._transport = self._make_transport()
        return transport

    @property
    def encryption(self) -> Encryption:
        """This DB's envelope encryption (data key caches, KMS call count); made on first use, no I/O.

        Raises:
            MissingExtra: the `cryptography` package (`aiotheory[crypto]`) is not installed.
        """
        found = self._encryption
        if found is None:
            from .encryption import DataKeyPolicy, Encryption, check_crypto

            check_crypto()
            policy = self._data_keys if self._data_keys is not None else DataKeyPolicy()
            found = self._encryption = Encryption(self._kms_transport, self._retry, policy)
        return found

    def _kms_transport(self) -> Transport:
        kms = self._kms
        if kms is None:
            if self._closed:
                raise ValidationError("this DB is closed")
            from .transport._kms import KmsTransport

            kms = self._kms = KmsTransport(
                self.region, endpoint_url=self.kms_endpoint_url, credentials=self.credential_provider
            )
        return kms

    def _make_transport(self) -> Transport:
        if self._closed:
            raise ValidationError("this DB is closed")
        from .transport._factory import make_transport

        spec = self._transport_spec
        assert isinstance(spec, str)  # a Transport instance is stored at construction, never made
        return make_transport(
            spec,
            region=self.region,
            endpoint_url=self.endpoint_url,
            # botocore reads static keys itself; the lean wire signs with this DB's one provider.
            credentials=self._credentials if spec == "botocore" else self.credential_provider,
            session=self._session,
            pool_size=self.sizing.pool_size,
        )

    async def raw(self, operation: str, payload: Payload) -> Payload:
        """Send one DynamoDB operation as written: `payload` is the request's DynamoDB JSON, the reply
        is returned as parsed JSON. The escape hatch for what the typed API does not cover.

        It goes through the same call function as every other operation: the deadline scope, retries
        with backoff and the observation hooks apply, and errors are mapped to the same exceptions.
        Nothing else is added: the table prefix is NOT applied (write `db.table_name(Model)` yourself)
        and no model rule runs. A request whose reply was lost is resent only when that is safe (reads;
        PutItem/DeleteItem without ReturnValues; TransactWriteItems with a ClientRequestToken; batch
        writes; the control plane); otherwise OutcomeUnknown is raised.

        Raises:
            AwsError: DynamoDB refused the request (the subclass for its code, e.g. ConditionFailed).
            DeadlineExceeded: the deadline scope ended the call.
            OutcomeUnknown: a write left without a usable reply and resending it was not safe.
        """
        return await self._requester.send(operation, payload)

    # ---------------------------------------------------------------------------------------- reads

    @overload
    async def get(self, model: type[M], pk: object, /, *, consistent: bool = False) -> M: ...
    @overload
    async def get(self, model: type[M], pk: object, sk: object, /, *, consistent: bool = False) -> M: ...
    async def get(
        self, model: type[M], pk: object, sk: object = MISSING, /, *, consistent: bool = False
    ) -> M:
        """Read one item by key; raise ItemNotFound when there is none.

        Raises:
            ItemNotFound: no item has this key.
            ValidationError: the key does not fit the model (before any request).
        """
        schema = schema_of(model)
        key = schema.key(pk, sk)
        if schema.encrypted:
            self._requester.key_id(schema)  # fail closed before anything is sent
        # The GetItem hot path: one coroutine from here to the transport (no _get_item, no requester).
        payload: Payload = {"TableName": self.table_prefix + schema.table, "Key": key}
        if consistent:
            payload["ConsistentRead"] = True
        item = (await call(self.transport, "GetItem", payload, self._retry)).get("Item")
        if item is None:
            raise ItemNotFound(
                f"no {model.__name__} item with that key in {self.table_name(model)}",
                table=self.table_name(model),
                key=key,
            )
        if schema.encrypted:
            await self._requester.open(schema, (item,), payload["TableName"])
        found: M = schema.decode(item)
        hooks = model.__aiotheory__.hooks
        if hooks is not None:
            await after_read(hooks, found)
        return found

    @overload
    async def find(self, model: type[M], pk: object, /, *, consistent: bool = False) -> M | None: ...
    @overload
    async def find(
        self, model: type[M], pk: object, sk: object, /, *, consistent: bool = False
    ) -> M | None: ...
    async def find(
        self, model: type[M], pk: object, sk: object = MISSING, /, *, consistent: bool = False
    ) -> M | None:
        """Read one item by key; None when there is none."""
        schema = schema_of(model)
        payload: Payload = {"TableName": self.table_prefix + schema.table, "Key": schema.key(pk, sk)}
        if consistent:
            payload["ConsistentRead"] = True
        if schema.encrypted:
            self._requester.key_id(schema)  # fail closed before anything is sent
        item = (await call(self.transport, "GetItem", payload, self._retry)).get("Item")
        if item is None:
            return None
        if schema.encrypted:
            await self._requester.open(schema, (item,), payload["TableName"])
        found: M = schema.decode(item)
        hooks = model.__aiotheory__.hooks
        if hooks is not None:
            await after_read(hooks, found)
        return found

    # --------------------------------------------------------------------------------------- writes

    async def put(self, item: M, *, condition: Condition | None = None) -> M:
        """Write `item`, replacing any item with its key; returns the item as written.

        UpdatedAt is set (and CreatedAt when the caller left it empty); a Version is written as given.

        Raises:
            ConditionFailed: `condition` did not hold (`.old` holds the old item when DynamoDB sent it).
        """
        schema = schema_of(type(item))
        hooks = schema.model.__aiotheory__.hooks
        if hooks is not None:
            item = await before_write(hooks, item)
        written = stamped(item, schema, self._clock, creating=False)
        encoded = await self._put_item(schema, written, condition)
        if written is item:  # no stamps: the returned model remembers what was written, not `item`
            written = shallow_copy(item)
        written.__dict__[STORED] = encoded
        if hooks is not None:
            await after_write(hooks, written)
        return written

    async def create(self, item: M, *, condition: Condition | None = None) -> M:
        """Write `item` only if no item has its key; otherwise raise ConditionFailed.

        A Version field is written as 0; CreatedAt and UpdatedAt are set from the DB's clock.
        """
        schema = schema_of(type(item))
        hooks = schema.model.__aiotheory__.hooks
        if hooks is not None:
            item = await before_write(hooks, item)
        written = stamped(item, schema, self._clock, creating=True)
        if condition is not None:
            encoded = await self._put_item(schema, written, create_guard(schema, condition))
            if written is item:
                written = shallow_copy(item)
            written.__dict__[STORED] = encoded
            if hooks is not None:
                await after_write(hooks, written)
            return written
        # The create guard alone is the same text for every item of the class: rendered once.
        encoded = schema.encode(written)
        expression, names = rendered_create_guard(schema)
        payload: Payload = {
            "TableName": self.table_prefix + schema.table,
            "Item": await self._requester.seal(schema, encoded) if schema.encrypted else encoded,
            "ConditionExpression": expression,
            "ExpressionAttributeNames": dict(names),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        await self._conditional_write("PutItem", payload, schema, None, key_in(schema, encoded), encoded)
        if written is item:
            written = shallow_copy(item)
        written.__dict__[STORED] = encoded
        if hooks is not None:
            await after_write(hooks, written)
        return written

    async def replace(self, item: M, *, condition: Condition | None = None) -> M:
        """Replace the stored item with `item` only if it is still the version `item` was read at.

        The whole-item write that cannot lose a concurrent change: the PutItem is conditioned on the
        stored Version equal to `item`'s, writes it bumped by one, and returns the model as written.
        CreatedAt is kept as `item` carries it; UpdatedAt is set. The model needs a Version field.

        Raises:
            ItemNotFound: no item has this key (use `create` for new items).
            ConditionFailed: the stored version differs, or `condition` did not hold (`.old` holds
                the stored item).
            ValidationError: the model has no Version field (before any request).
        """
        schema = schema_of(type(item))
        if schema.version is None:
            raise ValidationError(
                f"replace() needs a Version field on {type(item).__name__}; use put() to overwrite"
            )
        hooks = schema.model.__aiotheory__.hooks
        if hooks is not None:
            item = await before_write(hooks, item)
        current = getattr(item, schema.version.field)
        fresh = stamped(item, schema, self._clock, creating=False)
        written = fresh.model_copy(update={schema.version.field: current + 1})
        guard = version_guard(schema, item, condition)
        try:
            encoded = await self._put_item(schema, written, guard)
        except ConditionFailed as exc:
            if exc.old_item is None:
                raise ItemNotFound(
                    f"no {type(item).__name__} item with that key in {self.table_name(type(item))}",
                    table=self.table_name(type(item)),
                    key=schema.key_of(item),
                ) from exc
            raise
        written.__dict__[STORED] = encoded  # a copy: the version was bumped
        if hooks is not None:
            await after_write(hooks, written)
        return written

    async def _put_item(self, schema: TableSchema[Any], item: Model, condition: Condition | None) -> Item:
        encoded = schema.encode(item)
        if schema.encrypted:
            if condition is not None:
                from .encryption import refuse_in_condition

                # Refused before sealing: no KMS request for a write that cannot be sent.
                refuse_in_condition(schema.encrypted, condition, f"PutItem on {schema.model.__name__}")
            sealed = await self._requester.seal(schema, encoded)
            payload: Payload = {"TableName": self.table_prefix + schema.table, "Item": sealed}
        else:
            payload = {"TableName": self.table_prefix + schema.table, "Item": encoded}
        await self._conditional_write("PutItem", payload, schema, condition, key_in(schema, encoded), encoded)
        return encoded

    async def _conditional_write(
        self,
        operation: str,
        payload: Payload,
        schema: TableSchema[Any],
        condition: Condition | None,
        key: Item,
        written: Item | None = None,
    ) -> None:
        """Send a PutItem/DeleteItem with `condition` (or the condition the payload already carries); a
        failed condition carries the decoded old item.

        Both may be resent after a lost reply. A refusal that may answer our own first attempt is
        resolved from the stored item DynamoDB returns: a PutItem landed when the stored item is the
        one we wrote (create, replace), a DeleteItem when no item is left. `written` is the item as
        encoded before its Encrypted attributes were sealed (envelopes differ on every write).
        """
        if condition is not None:
            if schema.encrypted:
                from .encryption import refuse_in_condition

                refuse_in_condition(schema.encrypted, condition, f"{operation} on {schema.model.__name__}")
            params = Params()
            payload["ConditionExpression"] = render_condition(condition, params)
            params.apply(payload)
            payload["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            await self._requester.send(operation, payload, key=key)
        except ConditionFailed as exc:
            if schema.encrypted and exc.old_item is not None:
                await self._requester.open(schema, (exc.old_item,), payload["TableName"])
            if exc.outcome_unknown:
                stored = exc.old_item
                if operation == "DeleteItem" and stored is None:
                    return
                if (
                    operation == "PutItem"
                    and stored is not None
                    and same_item(schema, stored, payload["Item"] if written is None else written)
                ):
                    return
            attach_old(exc, schema)
            raise

    async def update(
        self,
        item: M,
        *updates: Update,
        condition: Condition | None = None,
        upsert: bool = False,
        idempotent: bool = False,
    ) -> M:
        """Apply `updates` to the stored item with `item`'s key and return the new model.

        `item` is not mutated. With a Version field the update is conditioned on `item`'s version and
        bumps it. A missing item raises ItemNotFound rather than creating a partial one, unless
        `upsert=True`.

        A lost reply is resent only when that is safe: with a Version field (the version check makes
        a second application fail, and the stored item tells whether the first landed) or when every
        action is idempotent (SET to a value, REMOVE, set ADD/DELETE). Otherwise (a number ADD, a list
        append, arithmetic) OutcomeUnknown is raised. `idempotent=True` makes any update exactly-once:
        it is sent as a one-item TransactWriteItems with a ClientRequestToken, which DynamoDB
        deduplicates for 10 minutes, so it can always be resent; it costs twice the write capacity of
        an UpdateItem, and the new item is read back with a strongly consistent GetItem.

        Raises:
            ItemNotFound: no item has this key (and upsert is False).
            ConditionFailed: `condition` or the version check did not hold.
            OutcomeUnknown: the request left, no usable reply came back, and resending was not safe.
        """
        schema = schema_of(type(item))
        hooks = schema.model.__aiotheory__.hooks
        changed: list[Update] = []
        if hooks is not None:
            hooked = await before_write(hooks, item)
            if hooked is not item:
                # What the hook changed (audit fields, say) is written by the same request.
                changed = save_actions(schema, schema.encode(hooked), schema.encode(item))
        actions, guard = update_plan(schema, item, updates, condition, upsert, self._clock, changed)
        new = await self._send_update(schema, item, actions, guard, upsert, idempotent)
        if hooks is not None:
            await after_write(hooks, new)
        return new

    async def save(self, item: M, *, condition: Condition | None = None) -> M:
        """Write what changed in `item` since it was read, as ONE UpdateItem; returns the new model.

        A model read through this library (get, find, query, scan, batch_get, transact_get, and the
        model every write returns) remembers the attributes it was read as, also across
        `model_copy(update=...)`. `save` encodes `item`, SETs the attributes that differ and REMOVEs
        those that are now empty (a field set to None, an emptied set), and leaves the rest alone.
        It is guarded by the Version (checked and bumped) when the model has one, else by the item
        still existing; UpdatedAt is stamped. When nothing changed no request is sent and `item` is
        returned as is. `item` is not mutated.

        A model built by hand (not read) has nothing to compare with: it is created, as `create`
        would (ConditionFailed when an item has its key).

        Raises:
            KeyChanged: a key field differs from the item it was read as (before any request).
            ConditionFailed: the stored version differs (a concurrent writer saved first), or
                `condition` did not hold.
            ItemNotFound: the item was deleted since it was read.
            OutcomeUnknown: the request left and no usable reply came back, and the stored item
                cannot tell whether the save landed (only without Version and UpdatedAt fields).
        """
        stored = stored_of(item)
        if stored is None:
            return await self.create(item, condition=condition)
        schema = schema_of(type(item))
        hooks = schema.model.__aiotheory__.hooks
        if hooks is not None:
            item = await before_write(hooks, item)
        changes = save_actions(schema, schema.encode(item), stored)
        if not changes:
            return item
        actions, guard = update_plan(schema, item, (), condition, False, self._clock, changes)
        new = await self._send_update(schema, item, actions, guard, False, False)
        if hooks is not None:
            await after_write(hooks, new)
        return new

    async def _send_update(
        self,
        schema: TableSchema[M],
        item: M,
        actions: list[Update],
        guard: Condition | None,
        upsert: bool,
        idempotent: bool,
    ) -> M:
        sealed = self._sealed_plan(schema, actions, guard, "UpdateItem") if schema.encrypted else None
        params = Params()
        payload: Payload = {
            "TableName": self.table_prefix + schema.table,
            "Key": schema.key_of(item),
            "UpdateExpression": render_update(actions, params),
            "ReturnValues": "ALL_NEW",
        }
        if guard is not None:
            payload["ConditionExpression"] = render_condition(guard, params)
            payload["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        params.apply(payload)
        if sealed:
            from .encryption import seal_placeholders

            await seal_placeholders(self.encryption, self._requester.key_id(schema), sealed, params.values)
        if idempotent:
            return await self._update_once(schema, item, payload, upsert)
        safe = schema.version is not None or idempotent_actions(actions)
        try:
            reply = await self._requester.send("UpdateItem", payload, resend=safe)
        except ConditionFailed as exc:
            if schema.encrypted and exc.old_item is not None:
                await self._requester.open(schema, (exc.old_item,), payload["TableName"])
            if exc.outcome_unknown:
                landed = update_landed(schema, item, actions, exc.old_item)
                if landed:
                    found: M = schema.decode(exc.old_item)  # type: ignore[arg-type]  # landed implies an item
                    return found
                if landed is None:
                    raise OutcomeUnknown(
                        f"UpdateItem on {payload['TableName']}: the reply was lost and the stored item "
                        "cannot tell whether this update was applied",
                        operation="UpdateItem",
                        table=payload["TableName"],
                        key=payload["Key"],
                    ) from exc
            if not upsert and exc.old_item is None:
                raise ItemNotFound(
                    f"no {type(item).__name__} item with that key in {payload['TableName']}",
                    table=payload["TableName"],
                    key=payload["Key"],
                ) from exc
            attach_old(exc, schema)
            raise
        if schema.encrypted:
            await self._requester.open(schema, (reply["Attributes"],), payload["TableName"])
        new: M = schema.decode(reply["Attributes"])
        return new

    def _sealed_plan(
        self, schema: TableSchema[Any], actions: Sequence[Update], guard: Condition | None, what: str
    ) -> list[tuple[AttributeValue, str]]:
        """The values to seal of an update of a model with Encrypted fields; conditions on them and
        other actions on them refused. Raised before any request."""
        from .encryption import refuse_in_condition, sealed_values

        self._requester.key_id(schema)
        where = f"{what} on {schema.model.__name__}"
        if guard is not None:
            refuse_in_condition(schema.encrypted, guard, where)
        return sealed_values(schema.encrypted, actions, where)

    async def _update_once(self, schema: TableSchema[M], item: Model, payload: Payload, upsert: bool) -> M:
        """An UpdateItem sent as a one-action TransactWriteItems with its own ClientRequestToken."""
        import uuid

        # A transaction's Update takes no ReturnValues; ALL_OLD on a failed check stays.
        action = {name: value for name, value in payload.items() if name != "ReturnValues"}
        request: Payload = {"TransactItems": [{"Update": action}], "ClientRequestToken": str(uuid.uuid4())}
        key = payload["Key"]
        try:
            await self._requester.send("TransactWriteItems", request, key=key)
        except TransactionCanceled as exc:
            reason = exc.reasons[0] if exc.reasons else None
            if reason is None or reason.code != "ConditionalCheckFailed":
                raise
            if schema.encrypted and reason.item is not None:
                await self._requester.open(schema, (reason.item,), payload["TableName"])
            if not upsert and reason.item is None:
                raise ItemNotFound(
                    f"no {type(item).__name__} item with that key in {payload['TableName']}",
                    table=payload["TableName"],
                    key=key,
                ) from exc
            failed = ConditionFailed(
                reason.message or "The conditional request failed",
                code="ConditionalCheckFailedException",
                operation="TransactWriteItems",
                status=exc.status,
                request_id=exc.request_id,
                body={} if reason.item is None else {"Item": reason.item},
            )
            attach_old(failed, schema)
            raise failed from exc
        reply = await self._requester.send(
            "GetItem", {"TableName": payload["TableName"], "Key": key, "ConsistentRead": True}
        )
        stored = reply.get("Item")
        if stored is None:
            raise ItemNotFound(
                f"{type(item).__name__} item was deleted right after the update in {payload['TableName']}",
                table=payload["TableName"],
                key=key,
            )
        if schema.encrypted:
            await self._requester.open(schema, (stored,), payload["TableName"])
        found: M = schema.decode(stored)
        return found

    @overload
    async def delete(self, item: Model, /, *, condition: Condition | None = None) -> None: ...
    @overload
    async def delete(
        self, model: type[Model], pk: object, /, *, condition: Condition | None = None
    ) -> None: ...
    @overload
    async def delete(
        self, model: type[Model], pk: object, sk: object, /, *, condition: Condition | None = None
    ) -> None: ...
    async def delete(
        self,
        target: Model | type[Model],
        pk: object = MISSING,
        sk: object = MISSING,
        /,
        *,
        condition: Condition | None = None,
    ) -> None:
        """Delete an item (by instance, or by model class and key). Deleting a missing key is a no-op.

        Given an instance whose model has a Version, the delete is conditioned on that version.

        Raises:
            ConditionFailed: `condition` or the version check did not hold.
        """
        guard = condition
        if isinstance(target, Model):
            if pk is not MISSING:
                raise ValidationError("delete(item) takes no key arguments; use delete(Model, pk[, sk])")
            schema = schema_of(type(target))
            key = schema.key_of(target)
            guard = version_guard(schema, target, condition)
            hooks = schema.model.__aiotheory__.hooks
            if hooks is not None:
                await before_delete(hooks, target)
        else:
            if pk is MISSING:
                raise ValidationError("delete(Model, ...) needs the key: delete(Model, pk[, sk])")
            schema = schema_of(target)
            key = schema.key(pk, sk)
            hooks = schema.model.__aiotheory__.hooks
            if hooks is not None:
                await before_delete(hooks, key_model(schema, key))
        if schema.encrypted:
            self._requester.key_id(schema)  # fail closed: a refused ALL_OLD item could not be opened
        payload: Payload = {"TableName": self.table_prefix + schema.table, "Key": key}
        await self._conditional_write("DeleteItem", payload, schema, guard, key)

    # -------------------------------------------------------------------------------- control plane

    async def create_table(
        self,
        model: type[Model],
        *,
        stream: Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] | None = None,
        billing: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST",
        capacity: tuple[int, int] = (5, 5),
        wait: bool = True,
    ) -> None:
        """Create the model's table with its keys and indexes (on-demand by default) and enable TTL.

        With `wait` (the default) it returns once the table is ACTIVE and TTL is enabled.

        Raises:
            ResourceInUse: the table exists already.
        """
        await _tables.create_table(
            self._requester, model, stream=stream, billing=billing, capacity=capacity, wait=wait
        )

    async def ensure_table(
        self,
        model: type[Model],
        *,
        stream: Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] | None = None,
    ) -> bool:
        """Create the table if it is missing; returns True when it was created.

        An existing table is compared with the model (keys, key types, indexes, projections, TTL
        attribute); any difference raises TableSchemaMismatch instead of passing silently.
        """
        return await _tables.ensure_table(self._requester, model, stream=stream)

    async def migrate(self, model: type[Model], *, dry_run: bool = False) -> MigrationPlan:
        """Bring the model's table to the model: create it if missing, add and remove GSIs, enable TTL.

        GSIs change one per UpdateTable call (DynamoDB's rule), removals first; each is waited for
        (ACTIVE, or gone) under the deadline scope, with progress on the `aiotheory.tables` logger at
        INFO. With `dry_run`, only DescribeTable / DescribeTimeToLive are sent and the plan is returned
        unapplied. A second migrate of a matching table sends no write and returns an empty plan.

        Raises:
            TableSchemaMismatch: what no UpdateTable can change (table keys and their types, LSIs, a
                GSI whose keys or projection changed, another TTL attribute); raised before any write.
        """
        return await _tables.migrate(self._requester, model, dry_run=dry_run)

    async def describe_ttl(self, model: type[Model]) -> Payload:
        """DynamoDB's TimeToLiveDescription of the model's table."""
        return await _tables.describe_ttl(self._requester, model)

    async def describe_table(self, model: type[Model]) -> Payload:
        """DynamoDB's description of the model's table (the `Table` object of DescribeTable).

        Raises:
            ResourceNotFound: the table does not exist.
        """
        return await _tables.describe_table(self._requester, model)

    async def delete_table(self, model: type[Model], *, wait: bool = True) -> None:
        """Delete the model's table; with `wait`, return once DynamoDB no longer lists it.

        Raises:
            ResourceNotFound: the table does not exist.
        """
        await _tables.delete_table(self._requester, model, wait=wait)

    async def wait_until_active(self, model: type[Model]) -> None:
        """Poll until the table and all its indexes are ACTIVE; bounded by the deadline scope.

        The polls are spaced by the retry policy's `sleep` (injectable, like the backoff sleeps).
        """
        await _tables.wait_until_active(self._requester, model)

    # ------------------------------------------------------------- batch and transactions (batch, transact)

    async def batch_get(
        self,
        model: type[M],
        keys: Iterable[object],
        *,
        consistent: bool = False,
        projection: Sequence[Attr[Any]] | None = None,
        concurrency: int | None = None,
        rounds: int = 10,
    ) -> list[M | None]:
        """Read many items by key: one result per key, in order, None where no item has the key.

        `keys` are `pk` values, or `(pk, sk)` tuples for a table with a sort key; duplicates are read
        once. Requests of 100 keys run `concurrency` (default `sizing.batch_concurrency`) at a time;
        keys DynamoDB leaves unprocessed are asked again after a full-jitter backoff, up to `rounds`
        requests per chunk. With `projection` the key attributes are always fetched too, and fields
        left out must have defaults.

        Raises:
            UnprocessedItems: `.items` holds the keys (as given) still unread when the rounds or the
                deadline ran out; the error that stopped them is its `__cause__`.
            ValidationError: a key does not fit the model (before any request).
        """
        from .batch import batch_get

        return await batch_get(
            self._requester,
            model,
            keys,
            consistent=consistent,
            projection=projection,
            concurrency=self.sizing.batch_concurrency if concurrency is None else concurrency,
            rounds=rounds,
        )

    async def batch_write(
        self,
        *,
        put: Iterable[M] = (),
        delete: Iterable[object] = (),
        concurrency: int | None = None,
        rounds: int = 10,
    ) -> list[M]:
        """Put and delete many items, across tables; returns the put items as written.

        `delete` takes model instances or `(Model, pk[, sk])` tuples. Requests of 25 writes run
        `concurrency` (default `sizing.batch_concurrency`) at a time; writes DynamoDB leaves
        unprocessed (or whose request stays throttled) are sent again after a full-jitter backoff, up
        to `rounds` requests per chunk. BatchWriteItem
        takes no conditions: UpdatedAt (and an empty CreatedAt) are set, but a Version is written as
        given and not checked, and deletes do not check it either. Two writes to one key are refused.

        Raises:
            UnprocessedItems: `.items` holds exactly the writes certainly not done (the objects
                passed in), in input order; `.unknown` the writes whose request left without a usable
                reply (a lost reply, or the deadline striking in flight) and that may have been
                applied. Re-sending either is safe, as puts and deletes are idempotent.
            ValidationError: a bad item or key, or two writes to one key (before any request).
        """
        from .batch import batch_write

        limit = self.sizing.batch_concurrency if concurrency is None else concurrency
        return await batch_write(self._requester, put=put, delete=delete, concurrency=limit, rounds=rounds)

    def transaction(self, *, token: str | None = None) -> Transaction:
        """A transaction to fill with `tx.put/create/update/delete/check`; sent as one TransactWriteItems
        when `async with` exits without an error.

        `token` is the ClientRequestToken (default: a new UUID); retries of the commit reuse it.
        """
        from .transact import Transaction

        return Transaction(self._requester, token=token)

    @overload
    async def transact_get(
        self, model: type[M], keys: Iterable[object], /, *, projection: Sequence[Attr[Any]] | None = None
    ) -> list[M | None]: ...
    @overload
    async def transact_get(
        self, *targets: Model | tuple[type[Model], object] | tuple[type[Model], object, object]
    ) -> list[Model | None]: ...
    async def transact_get(self, *args: object, projection: Sequence[Attr[Any]] | None = None) -> list[Any]:
        """Read up to 100 items as one consistent snapshot (TransactGetItems); None where absent.

        Either `transact_get(Model, keys)` with `pk` values or `(pk, sk)` tuples, or
        `transact_get(*targets)` with model instances and `(Model, pk[, sk])` tuples of any models.

        Raises:
            TransactionCanceled: concurrent transactions still touched the items when retries ran out.
            ValidationError: more than 100 items, one item twice, or a bad key (before any request).
        """
        from .transact import transact_get

        if len(args) == 2 and isinstance(args[0], type):
            model: Any = args[0]
            keys: Any = args[1]
            return await transact_get(self._requester, model, keys, projection=projection)
        return await transact_get(self._requester, None, args, projection=projection)

    # ------------------------------------------------------------------------------------- leases (lease)

    def lease(
        self, name: str, ttl: float, *, table: str = "leases", refresh_every: float | None = None
    ) -> Lease:
        """A lease on `name` for `async with`: at most one holder at a time, with a fencing token.

        Entering acquires it (LeaseHeld if another holder has it), a background task refreshes it
        every `refresh_every` seconds (default ttl / 3) while held, and leaving releases it; a lease
        lost while held cancels the body and raises LeaseNotOwned. `table` gets the DB's prefix;
        create it with `db.ensure_table(lease_table(table))`. Building it does no I/O.
        """
        from .lease import Lease

        return Lease(self._requester, name, ttl, table=table, refresh_every=refresh_every)

    # ----------------------------------------------------------------------------------- queries (query)

    @overload
    def query(self, model: type[M]) -> Query[M]: ...
    @overload
    def query(self, model: Collection[M]) -> Query[M]: ...
    @overload
    def query(self, model: UnionType) -> Query[Model]: ...

    def query(self, model: type[M] | Collection[M] | UnionType) -> Query[M] | Query[Model]:
        """A query of one partition of `model`'s table or index; nothing is sent until awaited or iterated.

        `model` may be a `Collection` of models sharing the table, or their union (`Customer | Order`):
        the query then returns each item as the model its discriminator names (docs/single-table.md).
        """
        from .query import Query

        if isinstance(model, type):
            return Query(self._requester, model, secret=self.cursor_secret)
        from .entities import Collection
        from .query import _CollectionQuery

        return _CollectionQuery(self._requester, Collection.of(model), secret=self.cursor_secret)

    def scan(self, model: type[M]) -> Scan[M]:
        """A scan of `model`'s table or index (whole, one `segment(i, n)`, or `parallel(n)`)."""
        from .query import Scan

        return Scan(
            self._requester, model, secret=self.cursor_secret, concurrency=self.sizing.scan_concurrency
        )
