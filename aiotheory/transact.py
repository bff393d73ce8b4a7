"""Transactions: writes recorded by a `Transaction` and sent as one TransactWriteItems, and TransactGetItems.

Recording is sync and checks DynamoDB's rules at once (100 actions, one action per item); the commit
goes through the requester's one call function with an idempotency token. Knows models, expressions,
the write rules (`_writes`) and the requester; never the DB facade, and nothing of HTTP.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

from ._hooks import after_read, after_write, before_delete, before_write, key_model
from ._writes import create_guard, save_actions, stamped, stored_of, update_plan, version_guard
from .errors import CancellationReason, KeyChanged, TransactionCanceled, ValidationError
from .expr import Attr, Condition, Params, Update, render_condition, render_projection, render_update
from .model import Model, schema_of
from .schema import MISSING, key_target

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import TracebackType

    from ._requester import Requester
    from ._types import AttributeValue, Item, Payload
    from .model import TableSchema

__all__ = ["MAX_TRANSACT_ITEMS", "Transaction", "TransactionAction", "transact_get"]

M = TypeVar("M", bound=Model)

#: TransactWriteItems / TransactGetItems: at most 100 actions, each on a different item.
MAX_TRANSACT_ITEMS: Final = 100


ActionKind = Literal["put", "create", "update", "delete", "check"]
_WIRE: Final[dict[str, str]] = {
    "put": "Put",
    "create": "Put",
    "update": "Update",
    "delete": "Delete",
    "check": "ConditionCheck",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionAction:
    """One action as the caller added it; `TransactionCanceled.reasons[i].action` points back to it.

    `condition` is the whole condition sent (the caller's, plus the library's version, existence and
    create guards), `key` the stored key, `item` the model instance the action was given (for put and
    create: the item as written), or None for an action built from a key.
    """

    index: int
    kind: ActionKind
    model: type[Model]
    table: str
    key: Item
    condition: Condition | None = None
    item: Model | None = None


class _Canceled(TransactionCanceled):
    """TransactionCanceled whose reasons point to the actions the caller added, in that order."""

    _linked: list[CancellationReason]

    @property
    def reasons(self) -> list[CancellationReason]:
        return self._linked


class Transaction:
    """Writes recorded now and sent together on exit of `async with db.transaction() as tx:`.

    Nothing is sent when the block raises or recorded nothing. `token` is the ClientRequestToken: the
    call function resends the same payload on a transient failure (a cancellation by conflicts alone
    among them), so DynamoDB applies a retried commit once (within its 10-minute idempotency window).
    Pass your own token to make a retry across processes idempotent too.
    """

    __slots__ = ("_actions", "_hooked", "_keys", "_payloads", "_requester", "_sealing", "_state", "token")

    def __init__(self, requester: Requester, *, token: str | None = None) -> None:
        if token is not None and not 1 <= len(token) <= 36:
            raise ValidationError("a ClientRequestToken has 1 to 36 characters")
        self._requester = requester
        self.token = token if token is not None else str(uuid.uuid4())
        self._actions: list[TransactionAction] = []
        self._payloads: list[Payload] = []
        self._keys: set[tuple[str, tuple[object, ...]]] = set()
        self._state: Literal["open", "done"] = "open"
        # (action index, schema, values to seal or None for a whole put item): Encrypted attributes are
        # sealed at commit, since recording is sync and KMS is not.
        self._sealing: list[tuple[int, TableSchema[Any], list[tuple[AttributeValue, str]] | None]] = []
        # The actions whose model declares hooks: run at commit (recording is sync, hooks may be async).
        self._hooked: list[_Hooked] = []

    @property
    def actions(self) -> tuple[TransactionAction, ...]:
        """The actions recorded so far, in order."""
        return tuple(self._actions)

    # ------------------------------------------------------------------------------ recording

    def put(self, item: M, *, condition: Condition | None = None) -> M:
        """Record a put; returns `item` as it will be written (UpdatedAt set, CreatedAt kept or set)."""
        schema = schema_of(type(item))
        written = stamped(item, schema, self._requester.clock, creating=False)
        self._add_put("put", schema, written, condition)
        return written

    def create(self, item: M, *, condition: Condition | None = None) -> M:
        """Record a put that fails the transaction if the key holds an item; Version written as 0."""
        schema = schema_of(type(item))
        written = stamped(item, schema, self._requester.clock, creating=True)
        self._add_put("create", schema, written, create_guard(schema, condition))
        return written

    def update(
        self, item: Model, *updates: Update, condition: Condition | None = None, upsert: bool = False
    ) -> None:
        """Record an update of the stored item with `item`'s key, with `db.update`'s version rules.

        Without `upsert`, a missing item cancels the transaction (its reason is ConditionalCheckFailed
        with no old item).
        """
        self._add_update(schema_of(type(item)), item, updates, condition, upsert)

    def save(self, item: Model, *, condition: Condition | None = None) -> None:
        """Record `db.save(item)`: an update of what changed since `item` was read (Version checked
        and bumped, else the item must exist), or a create for a model built by hand.

        Nothing is recorded when nothing changed.

        Raises:
            KeyChanged: a key field differs from the item it was read as.
        """
        stored = stored_of(item)
        if stored is None:
            self.create(item, condition=condition)
            return
        schema = schema_of(type(item))
        changes = save_actions(schema, schema.encode(item), stored)
        if changes:
            self._add_update(schema, item, (), condition, False, changes)

    def _add_update(
        self,
        schema: TableSchema[Any],
        item: Model,
        updates: Sequence[Update],
        condition: Condition | None,
        upsert: bool,
        derived: Sequence[Update] = (),
    ) -> None:
        actions, guard = update_plan(schema, item, updates, condition, upsert, self._requester.clock, derived)
        key = schema.key_of(item)
        sealed = None
        if schema.encrypted:
            from .encryption import sealed_values

            self._requester.key_id(schema)
            sealed = sealed_values(schema.encrypted, actions, f"tx.update of {schema.model.__name__}")
        params = Params()
        body: Payload = {"Key": key, "UpdateExpression": render_update(actions, params)}
        if schema.model.__aiotheory__.hooks is not None:
            self._hooked.append(
                _Hooked(len(self._actions), schema, item, tuple(updates), condition, upsert, tuple(derived))
            )
        self._add("update", schema, key, guard, item, body, params)
        if sealed:
            self._sealing.append((len(self._payloads) - 1, schema, sealed))

    def delete(
        self,
        target: Model | type[Model],
        pk: object = MISSING,
        sk: object = MISSING,
        /,
        *,
        condition: Condition | None = None,
    ) -> None:
        """Record a delete, by instance (conditioned on its Version) or by model class and key."""
        guard = condition
        item: Model | None = None
        if isinstance(target, Model):
            if pk is not MISSING:
                raise ValidationError(
                    "tx.delete(item) takes no key arguments; use tx.delete(Model, pk[, sk])"
                )
            schema = schema_of(type(target))
            key = schema.key_of(target)
            item = target
            guard = version_guard(schema, target, condition)
        else:
            if pk is MISSING:
                raise ValidationError("tx.delete(Model, ...) needs the key: tx.delete(Model, pk[, sk])")
            schema = schema_of(target)
            key = schema.key(pk, sk)
        if schema.model.__aiotheory__.hooks is not None:
            target_item = item if item is not None else key_model(schema, key)
            self._hooked.append(_Hooked(len(self._actions), schema, target_item, (), None, False))
        self._add("delete", schema, key, guard, item, {"Key": key}, Params())

    def check(self, target: Model | type[Model], *args: object) -> None:
        """Record a condition that must hold on an item the transaction does not write.

        Spelled `tx.check(item, condition)` or `tx.check(Model, pk[, sk], condition)`.
        """
        if not args or not isinstance(args[-1], Condition):
            raise ValidationError("tx.check needs a condition as its last argument")
        condition: Condition = args[-1]
        key_args = args[:-1]
        item: Model | None = None
        if isinstance(target, Model):
            if key_args:
                raise ValidationError("tx.check(item, condition) takes no key arguments")
            schema = schema_of(type(target))
            key = schema.key_of(target)
            item = target
        else:
            if not 1 <= len(key_args) <= 2:
                raise ValidationError("tx.check(Model, pk[, sk], condition) needs the key")
            schema = schema_of(target)
            key = schema.key(*key_args)
        self._add("check", schema, key, condition, item, {"Key": key}, Params())

    def _add_put(
        self, kind: ActionKind, schema: TableSchema[Any], item: Model, guard: Condition | None
    ) -> None:
        encoded = schema.encode(item)
        key = schema.key_of(item)
        if schema.encrypted:
            self._requester.key_id(schema)  # fail closed when recorded
        if schema.model.__aiotheory__.hooks is not None:
            self._hooked.append(_Hooked(len(self._actions), schema, item, (), guard, False))
        self._add(kind, schema, key, guard, item, {"Item": encoded}, Params())
        if schema.encrypted:
            self._sealing.append((len(self._payloads) - 1, schema, None))

    def _add(
        self,
        kind: ActionKind,
        schema: TableSchema[Any],
        key: Item,
        guard: Condition | None,
        item: Model | None,
        body: Payload,
        params: Params,
    ) -> None:
        if self._state != "open":
            raise ValidationError("this transaction was already sent; start a new one")
        if kind == "check" and guard is None:
            raise ValidationError("a condition check needs a condition")
        table = self._requester.table_prefix + schema.table
        if len(self._actions) >= MAX_TRANSACT_ITEMS:
            raise ValidationError(f"TransactWriteItems: at most {MAX_TRANSACT_ITEMS} actions per transaction")
        ident = (table, schema.key_id(key))
        if ident in self._keys:
            raise ValidationError(f"TransactWriteItems: one item of {table} appears in two actions")
        body["TableName"] = table
        if guard is not None:
            if schema.encrypted:
                from .encryption import refuse_in_condition

                refuse_in_condition(schema.encrypted, guard, f"tx.{kind} of {schema.model.__name__}")
            body["ConditionExpression"] = render_condition(guard, params)
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        params.apply(body)
        self._keys.add(ident)
        self._payloads.append({_WIRE[kind]: body})
        self._actions.append(
            TransactionAction(
                index=len(self._actions),
                kind=kind,
                model=schema.model,
                table=table,
                key=key,
                condition=guard,
                item=item,
            )
        )

    # ------------------------------------------------------------------------------ sending

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is not None:
            self._state = "done"
            return
        await self.commit()

    async def commit(self) -> None:
        """Send the recorded actions as one TransactWriteItems (nothing when none were recorded).

        A cancellation whose every reason is TransactionConflict or None is retried with the same token
        under the retry policy and the deadline; any other is raised at once.

        Raises:
            TransactionCanceled: DynamoDB canceled it (for conflicts alone: on every attempt);
                `.reasons[i].action` is the i-th recorded action.
            ValidationError: the transaction was already sent.
        """
        if self._state != "open":
            raise ValidationError("this transaction was already sent; start a new one")
        self._state = "done"
        if not self._payloads:
            return
        hooked = self._hooked
        if hooked:
            await self._before_hooks(hooked)
        # After the hooks: a hook may have rebuilt a put's item, which is then sealed as written.
        for index, schema, sealed in self._sealing:
            await self._seal(index, schema, sealed)
        payload: Payload = {"TransactItems": self._payloads, "ClientRequestToken": self.token}
        try:
            await self._requester.send("TransactWriteItems", payload)
        except TransactionCanceled as exc:
            linked = _linked(exc, self._actions)
            await self._open_reasons(linked)
            raise linked from None
        for entry in hooked:
            hooks = entry.schema.model.__aiotheory__.hooks
            if hooks is not None and self._actions[entry.index].kind != "delete":
                await after_write(hooks, entry.item)

    async def _open_reasons(self, canceled: TransactionCanceled) -> None:
        """Open the Encrypted attributes of the old items the cancellation reasons carry (ALL_OLD)."""
        for reason in canceled.reasons:
            action = reason.action
            if reason.item is not None and isinstance(action, TransactionAction):
                schema = schema_of(action.model)
                if schema.encrypted:
                    await self._requester.open(schema, (reason.item,), action.table)

    async def _seal(
        self, index: int, schema: TableSchema[Any], sealed: list[tuple[AttributeValue, str]] | None
    ) -> None:
        requester = self._requester
        (body,) = self._payloads[index].values()
        if sealed is None:
            body["Item"] = await requester.seal(schema, body["Item"])
            return
        from .encryption import seal_placeholders

        key_id = requester.key_id(schema)
        await seal_placeholders(
            requester.source.encryption, key_id, sealed, body["ExpressionAttributeValues"]
        )

    async def _before_hooks(self, hooked: list[_Hooked]) -> None:
        """Run the before_write / before_delete hooks of the recorded actions, before anything is sent,
        and rebuild the actions whose model a before_write hook replaced."""
        for entry in hooked:
            hooks = entry.schema.model.__aiotheory__.hooks
            if hooks is None:
                continue
            action = self._actions[entry.index]
            if action.kind == "delete":
                await before_delete(hooks, entry.item)
                continue
            result = await before_write(hooks, entry.item)
            if result is entry.item:
                continue
            schema = entry.schema
            if schema.key_id(schema.key_of(result)) != schema.key_id(action.key):
                raise KeyChanged(
                    f"{schema.model.__name__}.before_write changed the key of a transaction item"
                )
            if action.kind in ("put", "create"):
                self._payloads[entry.index]["Put"]["Item"] = schema.encode(result)
            else:
                stored = stored_of(entry.item) if entry.derived else None
                if stored is not None:
                    # A save: the hook's model is compared with the stored item, as db.save compares
                    # after its hook; the caller's changes and the hook's are one diff (two SETs of one
                    # path would be refused by DynamoDB).
                    derived = save_actions(schema, schema.encode(result), stored)
                else:
                    # What the hook changed is added to the same Update, as db.update does.
                    changed = save_actions(schema, schema.encode(result), schema.encode(entry.item))
                    derived = [*entry.derived, *changed]
                actions, guard = update_plan(
                    schema,
                    entry.item,
                    entry.updates,
                    entry.condition,
                    entry.upsert,
                    self._requester.clock,
                    derived,
                )
                params = Params()
                body: Payload = {
                    "Key": action.key,
                    "UpdateExpression": render_update(actions, params),
                    "TableName": action.table,
                }
                if guard is not None:
                    body["ConditionExpression"] = render_condition(guard, params)
                    body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
                params.apply(body)
                self._payloads[entry.index] = {"Update": body}
                if schema.encrypted:
                    self._reseal(entry.index, schema, actions)
            self._actions[entry.index] = dataclasses.replace(action, item=result)
            entry.item = result

    def _reseal(self, index: int, schema: TableSchema[Any], actions: Sequence[Update]) -> None:
        """List anew the values to seal of the update at `index`, rebuilt after a hook: the values listed
        when it was recorded are not in the new body (sealed by identity), and the hook may have set an
        Encrypted field the caller's actions did not."""
        from .encryption import sealed_values

        sealed = sealed_values(schema.encrypted, actions, f"tx.update of {schema.model.__name__}")
        self._sealing = [entry for entry in self._sealing if entry[0] != index]
        if sealed:
            self._sealing.append((index, schema, sealed))


class _Hooked:
    """A recorded action whose model declares hooks, and what rebuilding it needs."""

    __slots__ = ("condition", "derived", "index", "item", "schema", "updates", "upsert")

    def __init__(
        self,
        index: int,
        schema: TableSchema[Any],
        item: Model,
        updates: tuple[Update, ...],
        condition: Condition | None,
        upsert: bool,
        derived: tuple[Update, ...] = (),
    ) -> None:
        self.index = index
        self.schema = schema
        self.item = item
        self.updates = updates
        self.condition = condition
        self.upsert = upsert
        self.derived = derived


def _linked(exc: TransactionCanceled, actions: Sequence[TransactionAction]) -> _Canceled:
    reasons = [
        dataclasses.replace(reason, action=actions[reason.index] if reason.index < len(actions) else None)
        for reason in exc.reasons
    ]
    linked = _Canceled(
        exc.message,
        code=exc.code,
        operation=exc.operation,
        status=exc.status,
        request_id=exc.request_id,
        body=exc.body,
    )
    linked._linked = reasons
    linked.outcome_unknown = exc.outcome_unknown
    return linked.with_traceback(exc.__traceback__)


# ------------------------------------------------------------------------------------------ reads


async def transact_get(
    requester: Requester,
    model: type[Model] | None,
    keys: Iterable[object],
    *,
    projection: Sequence[Attr[Any]] | None = None,
) -> list[Any]:
    """One TransactGetItems: decoded models (None where absent), in the order asked. See `DB.transact_get`.

    With `model`, `keys` are its `pk` values or `(pk, sk)` tuples; without, they are instances or
    `(Model, pk[, sk])` tuples of any models.
    """
    if model is not None:
        if isinstance(keys, str | bytes):
            raise ValidationError("transact_get(Model, keys) takes a list of keys, not one key")
        schema = schema_of(model)
        targets = [(schema, schema.key_from(key)) for key in keys]
    else:
        if projection is not None:
            raise ValidationError(
                "transact_get: a projection needs one model: transact_get(Model, keys, projection=...)"
            )
        targets = [key_target(target, "transact_get") for target in keys]
    if len(targets) > MAX_TRANSACT_ITEMS:
        raise ValidationError(f"TransactGetItems: at most {MAX_TRANSACT_ITEMS} items per call")
    shown: Payload = {}
    if projection is not None:
        params = Params()
        shown["ProjectionExpression"] = render_projection(projection, params)
        params.apply(shown)
    items: list[Payload] = []
    seen: set[tuple[str, tuple[object, ...]]] = set()
    for schema, key in targets:
        table = requester.table_prefix + schema.table
        ident = (table, schema.key_id(key))
        if ident in seen:
            raise ValidationError(f"TransactGetItems: one item of {table} is read twice")
        seen.add(ident)
        items.append({"Get": {"TableName": table, "Key": key, **shown}})
    if not items:
        return []
    for schema, _ in targets:
        if schema.encrypted:
            requester.key_id(schema)  # fail closed before anything is sent
    reply = await requester.send("TransactGetItems", {"TransactItems": items})
    responses = reply.get("Responses") or []
    sealed: dict[int, tuple[TableSchema[Any], str, list[Item]]] = {}
    for (schema, _), response, item in zip(targets, responses, items, strict=True):
        raw = response.get("Item")
        if raw is not None and schema.encrypted:
            sealed.setdefault(id(schema), (schema, item["Get"]["TableName"], []))[2].append(raw)
    for schema, table, raws in sealed.values():
        await requester.open(schema, raws, table)
    out: list[Any] = []
    for (schema, _), response in zip(targets, responses, strict=True):
        raw = response.get("Item")
        out.append(None if raw is None else schema.decode(raw))
    for found in out:
        if found is not None:
            hooks = type(found).__aiotheory__.hooks
            if hooks is not None:
                await after_read(hooks, found)
    return out
