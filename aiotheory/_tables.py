"""Table management: CreateTable from a model's schema, ensure/compare, migrate, describe, delete, waiters.

The control plane behind `DB.create_table`, `ensure_table`, `migrate`, `describe_table`, `describe_ttl`,
`delete_table` and `wait_until_active`, which delegate here. Every request goes through the requester's
one call function; the polling waits use the retry policy's `sleep` (injectable) under the deadline
scope. Knows models; knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from ._observe import logger as _logger
from ._rules import check_table_name
from .deadlines import bounded
from .errors import ResourceInUse, ResourceNotFound, TableSchemaMismatch
from .model import Model, TableSchema, schema_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._requester import Requester
    from ._types import Payload

__all__ = [
    "POLL_INTERVAL",
    "MigrationPlan",
    "MigrationStep",
    "StreamView",
    "create_table",
    "create_table_payload",
    "delete_table",
    "describe_table",
    "describe_ttl",
    "ensure_table",
    "migrate",
    "schema_differences",
    "wait_until_active",
]

#: Seconds between DescribeTable polls while a table is being created or deleted.
POLL_INTERVAL: Final = 0.05

StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]

#: Progress of migrations (one INFO record per step and per status change while waiting).
_log: Final = _logger("aiotheory.tables")


def _name(requester: Requester, model: type[Model]) -> str:
    return requester.table_prefix + schema_of(model).table


async def create_table(
    requester: Requester,
    model: type[Model],
    *,
    stream: StreamView | None = None,
    billing: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST",
    capacity: tuple[int, int] = (5, 5),
    wait: bool = True,
) -> None:
    """Create the model's table and enable TTL; see `DB.create_table`."""
    schema = schema_of(model)
    name = requester.table_prefix + schema.table
    # The model's own name was checked at class creation; the prefix can still push it past 255.
    check_table_name(model.__name__, name)
    payload = create_table_payload(name, schema, stream, billing, capacity)
    try:
        await requester.send("CreateTable", payload)
    except ResourceInUse as exc:
        if not exc.outcome_unknown:
            raise
        # The first CreateTable's reply was lost and the resend found the table: ours.
    if wait or schema.ttl is not None:
        await wait_until_active(requester, model)
    if schema.ttl is not None:
        await _enable_ttl(requester, schema)


async def _enable_ttl(requester: Requester, schema: TableSchema[Any]) -> None:
    assert schema.ttl is not None
    await requester.send(
        "UpdateTimeToLive",
        {
            "TableName": requester.table_prefix + schema.table,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": schema.ttl.stored},
        },
    )


async def ensure_table(requester: Requester, model: type[Model], *, stream: StreamView | None = None) -> bool:
    """Create the table if it is missing, else compare it with the model; see `DB.ensure_table`."""
    schema = schema_of(model)
    try:
        table = await describe_table(requester, model)
    except ResourceNotFound:
        await create_table(requester, model, stream=stream)
        return True
    differences = schema_differences(schema, table)
    if schema.ttl is not None:
        desc = await describe_ttl(requester, model)
        status = desc.get("TimeToLiveStatus")
        if status in (None, "DISABLED"):
            await _enable_ttl(requester, schema)
        elif desc.get("AttributeName") != schema.ttl.stored:
            got = desc.get("AttributeName")
            differences.append(f"TTL attribute is {got!r}, the model declares {schema.ttl.stored!r}")
    if differences:
        raise TableSchemaMismatch(requester.table_prefix + schema.table, differences)
    if table.get("TableStatus") != "ACTIVE":
        await wait_until_active(requester, model)
    return False


async def describe_ttl(requester: Requester, model: type[Model]) -> Payload:
    """DynamoDB's TimeToLiveDescription of the model's table."""
    reply = await requester.send("DescribeTimeToLive", {"TableName": _name(requester, model)})
    desc: Payload = reply.get("TimeToLiveDescription", {})
    return desc


async def describe_table(requester: Requester, model: type[Model]) -> Payload:
    """DynamoDB's description of the model's table; ResourceNotFound when there is none."""
    reply = await requester.send("DescribeTable", {"TableName": _name(requester, model)})
    table: Payload = reply["Table"]
    return table


async def delete_table(requester: Requester, model: type[Model], *, wait: bool = True) -> None:
    """Delete the model's table; with `wait`, return once DynamoDB no longer lists it."""
    name = _name(requester, model)
    try:
        await requester.send("DeleteTable", {"TableName": name})
    except ResourceNotFound as exc:
        if not exc.outcome_unknown:
            raise
        # The first DeleteTable's reply was lost and the resend found no table: ours.
    if wait:
        while True:
            try:
                await requester.send("DescribeTable", {"TableName": name})
            except ResourceNotFound:
                return
            await _poll_sleep(requester, "DeleteTable")


async def wait_until_active(requester: Requester, model: type[Model]) -> None:
    """Poll until the table and all its indexes are ACTIVE; bounded by the deadline scope."""
    name = _name(requester, model)
    while True:
        table = (await requester.send("DescribeTable", {"TableName": name}))["Table"]
        indexes = table.get("GlobalSecondaryIndexes") or []
        if table.get("TableStatus") == "ACTIVE" and all(
            i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
        ):
            return
        await _poll_sleep(requester, "DescribeTable")


async def _poll_sleep(requester: Requester, operation: str) -> None:
    async with bounded(operation):
        await requester.retry.sleep(POLL_INTERVAL)


def _key_schema(pk: Any, sk: Any) -> list[dict[str, str]]:
    out = [{"AttributeName": pk.stored, "KeyType": "HASH"}]
    if sk is not None:
        out.append({"AttributeName": sk.stored, "KeyType": "RANGE"})
    return out


def _projection(index: Any) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.projection}
    if index.projection == "INCLUDE":
        projection["NonKeyAttributes"] = list(index.include)
    return projection


def create_table_payload(
    name: str, schema: TableSchema[Any], stream: str | None, billing: str, capacity: tuple[int, int]
) -> Payload:
    definitions: dict[str, str] = {}
    for key in (schema.pk, schema.sk, *(k for i in schema.table_indexes() for k in (i.pk, i.sk))):
        if key is not None:
            definitions[key.stored] = key.type
    throughput = {"ReadCapacityUnits": capacity[0], "WriteCapacityUnits": capacity[1]}
    payload: Payload = {
        "TableName": name,
        "KeySchema": _key_schema(schema.pk, schema.sk),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in definitions.items()],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        payload["ProvisionedThroughput"] = throughput
    gsis = [
        {"IndexName": i.name, "KeySchema": _key_schema(i.pk, i.sk), "Projection": _projection(i)}
        for i in schema.table_indexes()
        if i.kind == "GSI"
    ]
    lsis = [
        {"IndexName": i.name, "KeySchema": _key_schema(i.pk, i.sk), "Projection": _projection(i)}
        for i in schema.table_indexes()
        if i.kind == "LSI"
    ]
    if billing == "PROVISIONED":
        for g in gsis:
            g["ProvisionedThroughput"] = throughput
    if gsis:
        payload["GlobalSecondaryIndexes"] = gsis
    if lsis:
        payload["LocalSecondaryIndexes"] = lsis
    if stream is not None:
        payload["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    return payload


def schema_differences(schema: TableSchema[Any], table: Payload) -> list[str]:
    """What differs between the model's declared schema and a DescribeTable result."""
    diffs: list[str] = []
    types = {d["AttributeName"]: d["AttributeType"] for d in table.get("AttributeDefinitions", [])}

    def keys_of(key_schema: Sequence[dict[str, str]]) -> tuple[str | None, str | None]:
        hash_key = next((k["AttributeName"] for k in key_schema if k["KeyType"] == "HASH"), None)
        range_key = next((k["AttributeName"] for k in key_schema if k["KeyType"] == "RANGE"), None)
        return hash_key, range_key

    def compare(where: str, want_pk: Any, want_sk: Any, key_schema: Sequence[dict[str, str]]) -> None:
        got_pk, got_sk = keys_of(key_schema)
        want = (want_pk.stored, want_sk.stored if want_sk is not None else None)
        if (got_pk, got_sk) != want:
            diffs.append(f"{where} keys are {(got_pk, got_sk)}, the model declares {want}")
            return
        diffs.extend(
            f"{where} key {k.stored!r} has type {types.get(k.stored)}, the model declares {k.type}"
            for k in (want_pk, want_sk)
            if k is not None and types.get(k.stored) not in (None, k.type)
        )

    compare("table", schema.pk, schema.sk, table.get("KeySchema", []))
    existing = {i["IndexName"]: ("GSI", i) for i in table.get("GlobalSecondaryIndexes") or []} | {
        i["IndexName"]: ("LSI", i) for i in table.get("LocalSecondaryIndexes") or []
    }
    for index in schema.table_indexes():
        found = existing.pop(index.name, None)
        if found is None:
            diffs.append(f"{index.kind} {index.name!r} is missing")
            continue
        kind, desc = found
        if kind != index.kind:
            diffs.append(f"index {index.name!r} is a {kind}, the model declares a {index.kind}")
            continue
        compare(f"{kind} {index.name!r}", index.pk, index.sk, desc.get("KeySchema", []))
        projection = desc.get("Projection", {})
        if projection.get("ProjectionType", "ALL") != index.projection:
            diffs.append(
                f"{kind} {index.name!r} projects {projection.get('ProjectionType')}, "
                f"the model declares {index.projection}"
            )
        elif index.projection == "INCLUDE" and set(projection.get("NonKeyAttributes", [])) != set(
            index.include
        ):
            diffs.append(f"{kind} {index.name!r} includes other attributes than the model declares")
    diffs.extend(
        f"the table has a {kind} {name!r} the model does not declare" for name, (kind, _) in existing.items()
    )
    return diffs


# ------------------------------------------------------------------------------------------ migrate


@dataclass(frozen=True, slots=True)
class MigrationStep:
    """One change `DB.migrate` makes: create the table, create or delete one GSI, or enable TTL.

    `name` is the table (create_table), the index (create_gsi / delete_gsi) or the TTL attribute.
    """

    action: Literal["create_table", "create_gsi", "delete_gsi", "enable_ttl"]
    name: str

    def __str__(self) -> str:
        if self.action == "create_table":
            return f"create table {self.name!r}"
        if self.action == "create_gsi":
            return f"add GSI {self.name!r}"
        if self.action == "delete_gsi":
            return f"remove GSI {self.name!r}"
        return f"enable TTL on {self.name!r}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationPlan:
    """What `DB.migrate` found to change on one table, in order, and whether it applied it.

    Empty `steps` means the table already matches the model. `str(plan)` is the readable plan.
    """

    model: str
    table: str
    steps: tuple[MigrationStep, ...]
    applied: bool

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __str__(self) -> str:
        if not self.steps:
            return f"{self.model} -> {self.table}: up to date"
        verb = "applied" if self.applied else "to apply"
        lines = [f"{self.model} -> {self.table}: {len(self.steps)} change(s) {verb}"]
        lines.extend(f"  {step}" for step in self.steps)
        return "\n".join(lines)


# Changes DynamoDB cannot make to an existing table (keys are fixed at CreateTable, and LSIs with them).
_UNMIGRATABLE: Final = (
    "DynamoDB cannot change them on an existing table: create a new table and copy the items"
)


async def migrate(requester: Requester, model: type[Model], *, dry_run: bool = False) -> MigrationPlan:
    """Bring the model's table to the model's schema; see `DB.migrate`."""
    schema = schema_of(model)
    name = requester.table_prefix + schema.table
    try:
        table = await describe_table(requester, model)
    except ResourceNotFound:
        steps = [MigrationStep("create_table", name)]
        if schema.ttl is not None:
            steps.append(MigrationStep("enable_ttl", schema.ttl.stored))
        plan = MigrationPlan(model=model.__name__, table=name, steps=tuple(steps), applied=not dry_run)
        if not dry_run:
            _log.info("%s: creating table %s", model.__name__, name)
            await create_table(requester, model)
            _log.info("%s: table %s is ACTIVE", model.__name__, name)
        return plan
    steps, refused = _index_changes(schema, table)
    if schema.ttl is not None:
        desc = await describe_ttl(requester, model)
        if desc.get("TimeToLiveStatus") in (None, "DISABLED"):
            steps.append(MigrationStep("enable_ttl", schema.ttl.stored))
        elif desc.get("AttributeName") != schema.ttl.stored:
            got = desc.get("AttributeName")
            refused.append(
                f"TTL attribute is {got!r}, the model declares {schema.ttl.stored!r} "
                "(disable TTL on the table first; DynamoDB allows one TTL change per hour)"
            )
    if refused:
        # Raised before any write, so a plan that cannot finish changes nothing.
        raise TableSchemaMismatch(name, refused)
    plan = MigrationPlan(model=model.__name__, table=name, steps=tuple(steps), applied=not dry_run)
    if dry_run or not steps:
        return plan
    billing = _billing_of(table)
    throughput = table.get("ProvisionedThroughput") or {}
    capacity = (int(throughput.get("ReadCapacityUnits") or 5), int(throughput.get("WriteCapacityUnits") or 5))
    indexes = {i.name: i for i in schema.table_indexes()}
    for step in steps:
        if step.action == "delete_gsi":
            _log.info("%s: removing GSI %r from %s", model.__name__, step.name, name)
            await requester.send(
                "UpdateTable",
                {"TableName": name, "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": step.name}}]},
            )
            await _wait_for_index(requester, name, step.name, gone=True)
        elif step.action == "create_gsi":
            _log.info("%s: adding GSI %r to %s", model.__name__, step.name, name)
            payload = _create_gsi_payload(name, indexes[step.name], billing, capacity)
            await requester.send("UpdateTable", payload)
            await _wait_for_index(requester, name, step.name, gone=False)
        else:
            _log.info("%s: enabling TTL on %r of %s", model.__name__, step.name, name)
            await _enable_ttl(requester, schema)
    _log.info("%s: table %s matches its model", model.__name__, name)
    return plan


def _billing_of(table: Payload) -> Literal["PAY_PER_REQUEST", "PROVISIONED"]:
    # Tables created before on-demand existed, and some engines, report no BillingModeSummary: those
    # are provisioned.
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    return "PAY_PER_REQUEST" if mode == "PAY_PER_REQUEST" else "PROVISIONED"


def _index_changes(schema: TableSchema[Any], table: Payload) -> tuple[list[MigrationStep], list[str]]:
    """(GSI deletes then creates, what cannot be migrated) between the model and a DescribeTable result.

    Deletes come first so that a table at DynamoDB's GSI limit can take the new ones.
    """
    diffs = schema_differences(schema, table)
    declared = {i.name for i in schema.table_indexes() if i.kind == "GSI"}
    existing = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes") or []}
    lsis = {i["IndexName"] for i in table.get("LocalSecondaryIndexes") or []}
    creates = [
        MigrationStep("create_gsi", i.name)
        for i in schema.table_indexes()
        if i.kind == "GSI" and i.name not in existing and i.name not in lsis
    ]
    deletes = [MigrationStep("delete_gsi", n) for n in sorted(existing - declared)]
    # What remains of the differences after the GSI adds and removes are the ones no UpdateTable can fix:
    # keys, key types, LSIs, and a changed GSI (its keys and projection are fixed at creation).
    handled = {f"GSI {s.name!r} is missing" for s in creates} | {
        f"the table has a GSI {s.name!r} the model does not declare" for s in deletes
    }
    refused = [
        f"{d} ({_UNMIGRATABLE})"
        if "LSI" in d or d.startswith("table")
        else f"{d} (a GSI's keys and projection are fixed: remove it from the model, migrate, add it back)"
        for d in diffs
        if d not in handled
    ]
    return deletes + creates, refused


def _create_gsi_payload(
    name: str, index: Any, billing: Literal["PAY_PER_REQUEST", "PROVISIONED"], capacity: tuple[int, int]
) -> Payload:
    # UpdateTable: AttributeDefinitions must name the new index's key attributes with their types.
    definitions = [
        {"AttributeName": k.stored, "AttributeType": k.type} for k in (index.pk, index.sk) if k is not None
    ]
    create: Payload = {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.pk, index.sk),
        "Projection": _projection(index),
    }
    if billing == "PROVISIONED":
        read, write = capacity
        create["ProvisionedThroughput"] = {"ReadCapacityUnits": read, "WriteCapacityUnits": write}
    return {
        "TableName": name,
        "AttributeDefinitions": definitions,
        "GlobalSecondaryIndexUpdates": [{"Create": create}],
    }


async def _wait_for_index(requester: Requester, table: str, index: str, *, gone: bool) -> None:
    """Poll until `index` is ACTIVE (or, with `gone`, no longer listed) and the table is ACTIVE.

    DynamoDB refuses the next UpdateTable while either is still changing; bounded by the deadline scope.
    """
    last: str | None = None
    while True:
        desc = (await requester.send("DescribeTable", {"TableName": table}))["Table"]
        found = next(
            (i for i in desc.get("GlobalSecondaryIndexes") or [] if i.get("IndexName") == index), None
        )
        status = "GONE" if found is None else str(found.get("IndexStatus", "ACTIVE"))
        if status != last:
            _log.info("%s: GSI %r is %s", table, index, status)
            last = status
        if desc.get("TableStatus") == "ACTIVE" and status == ("GONE" if gone else "ACTIVE"):
            return
        await _poll_sleep(requester, "UpdateTable")
