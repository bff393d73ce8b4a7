"""Transactions end to end: all-or-nothing, reasons linked to actions, idempotent retried commits."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated

import anyio
import pytest

from aiotheory import DB, PK, SK, F, Model, RetryPolicy, TransactionCanceled, Version
from aiotheory.errors import TransportError, from_response

if TYPE_CHECKING:
    from aiotheory._types import Payload
    from aiotheory.testing import Backend, MakeTable
    from aiotheory.transport.base import Transport


class Account(Model, table="tx_accounts"):
    id: Annotated[str, PK]
    balance: int = 0
    status: str = "open"
    version: Annotated[int, Version] = 0


class Counter(Model, table="tx_counters"):
    name: Annotated[str, PK]
    shard: Annotated[int, SK]
    hits: int = 0


class Wallet(Model, table="tx_wallets"):
    """No Version field: concurrent transfers contend only through DynamoDB's own conflict detection."""

    id: Annotated[str, PK]
    balance: int = 0


class Overlapping:
    """DynamoDB's conflict rule at the seam: a transaction touching an item that another one still in
    flight touches is canceled with a TransactionConflict reason for that item, None for the others.

    DynamoDB Local never answers TransactionConflict (it takes a lock per table around each
    transaction, so overlapping transactions wait instead), and moto serialises requests: neither
    engine can provoke a real conflict, so this transport answers as DynamoDB would and lets the
    requests that do not overlap reach the engine.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.busy: dict[tuple[str, str], int] = {}
        self.conflicts: dict[str, int] = {"TransactWriteItems": 0, "TransactGetItems": 0}

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        if operation not in self.conflicts:
            return await self.inner.send(operation, payload)
        touched = [_item_of(action) for action in payload["TransactItems"]]
        codes = ["TransactionConflict" if item in self.busy else "None" for item in touched]
        if "TransactionConflict" in codes:
            self.conflicts[operation] += 1
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                "CancellationReasons": [{"Code": code} for code in codes],
            }
            raise from_response(operation, 400, body)
        for item in touched:
            self.busy[item] = self.busy.get(item, 0) + 1
        try:
            return await self.inner.send(operation, payload)
        finally:
            for item in touched:
                self.busy[item] -= 1
                if not self.busy[item]:
                    del self.busy[item]

    async def close(self) -> None:
        await self.inner.close()


def _item_of(action: Payload) -> tuple[str, str]:
    (body,) = action.values()
    return body["TableName"], json.dumps(body["Key"], sort_keys=True)


class LostReply:
    """Sends the first TransactWriteItems to DynamoDB, then loses the reply as a dropped connection would.

    The call function resends the very same payload, ClientRequestToken included.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.lost = 0

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        reply = await self.inner.send(operation, payload)
        if operation == "TransactWriteItems" and not self.lost:
            self.lost += 1
            raise TransportError(
                "connection reset", operation=operation, retryable=True, outcome_unknown=True
            )
        return reply

    async def close(self) -> None:
        await self.inner.close()


async def test_transaction_applies_all_actions_together(db: DB, make_table: MakeTable) -> None:
    await make_table(Account, Counter)
    a = await db.create(Account(id="a", balance=10))
    b = await db.create(Account(id="b", balance=0))
    async with db.transaction() as tx:
        tx.update(a, F(Account.balance).add(-4))
        tx.update(b, F(Account.balance).add(4))
        tx.put(Counter(name="transfers", shard=0, hits=1))
        tx.check(Account, "c", F(Account.status).not_exists())
    got = await db.transact_get((Account, "a"), (Account, "b"), (Counter, "transfers", 0), (Counter, "x", 1))
    a2, b2, counter, missing = got
    assert isinstance(a2, Account) and (a2.balance, a2.version) == (6, 1)
    assert isinstance(b2, Account) and (b2.balance, b2.version) == (4, 1)
    assert isinstance(counter, Counter) and counter.hits == 1
    assert missing is None
    assert await db.transact_get(Account, ["b", "a"]) == [b2, a2]


async def test_failing_condition_rolls_back_all_and_names_the_failing_action(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Account, Counter)
    b = await db.create(Account(id="b", balance=5))
    c = await db.create(Account(id="c", status="frozen"))
    tx = db.transaction()
    tx.create(Account(id="new", balance=1))
    tx.update(b, F(Account.balance).add(-5))
    tx.check(c, F(Account.status) == "open")
    with pytest.raises(TransactionCanceled) as caught:
        await tx.commit()
    reasons = caught.value.reasons
    assert [r.code for r in reasons] == [None, None, "ConditionalCheckFailed"]
    failed = reasons[2]
    assert failed.action is tx.actions[2]
    assert failed.action.kind == "check" and failed.action.model is Account and failed.action.item is c
    assert failed.action.key == {"id": {"S": "c"}}
    assert failed.item is not None and failed.item["status"] == {"S": "frozen"}  # the old item
    assert await db.find(Account, "new") is None
    assert await db.get(Account, "b") == b  # balance and version untouched


async def test_stale_version_inside_a_transaction_cancels_it(db: DB, make_table: MakeTable) -> None:
    await make_table(Account)
    stale = await db.create(Account(id="a"))
    await db.update(stale, F(Account.balance).add(1))
    with pytest.raises(TransactionCanceled) as caught:
        async with db.transaction() as tx:
            tx.update(stale, F(Account.balance).add(100))
    (reason,) = caught.value.reasons
    assert reason.code == "ConditionalCheckFailed"
    assert reason.item is not None and reason.item["version"] == {"N": "1"}
    assert (await db.get(Account, "a")).balance == 1


async def test_nothing_is_written_when_the_block_raises(db: DB, make_table: MakeTable) -> None:
    await make_table(Account)
    with pytest.raises(KeyError):  # noqa: PT012  # the error must be raised inside the block
        async with db.transaction() as tx:
            tx.put(Account(id="a"))
            raise KeyError("abandon")
    assert await db.find(Account, "a") is None


@pytest.mark.ddblocal_only  # moto ignores ClientRequestToken (TESTING.md)
async def test_retried_commit_with_the_same_token_applies_once(db: DB, make_table: MakeTable) -> None:
    await make_table(Counter)
    await db.put(Counter(name="n", shard=1))
    lossy = LostReply(db.transport)
    retrying = DB(
        region=db.region, endpoint_url=db.endpoint_url, table_prefix=db.table_prefix, transport=lossy
    )
    async with retrying.transaction() as tx:
        tx.update(Counter(name="n", shard=1), F(Counter.hits).add(1))
    assert lossy.lost == 1  # the first reply was lost and the call function resent the commit
    assert (await db.get(Counter, "n", 1)).hits == 1


@pytest.mark.ddblocal_only  # moto ignores ClientRequestToken (TESTING.md)
async def test_a_second_commit_with_a_callers_token_is_not_applied_again(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Counter)
    await db.put(Counter(name="n", shard=1))
    token = f"order-42-{uuid.uuid4().hex[:16]}"  # tokens outlive the test's tables for 10 minutes
    for _ in range(2):
        async with db.transaction(token=token) as tx:
            tx.update(Counter(name="n", shard=1), F(Counter.hits).add(1))
    assert (await db.get(Counter, "n", 1)).hits == 1


@pytest.mark.moto_only
async def test_moto_applies_a_reused_token_twice_which_is_why_the_token_tests_need_dynamodb_local(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Counter)
    await db.put(Counter(name="n", shard=1))
    for _ in range(2):
        async with db.transaction(token="same") as tx:
            tx.update(Counter(name="n", shard=1), F(Counter.hits).add(1))
    assert (await db.get(Counter, "n", 1)).hits == 2


async def test_transact_get_reads_a_consistent_snapshot_with_projection(
    db: DB, make_table: MakeTable, backend: Backend
) -> None:
    await make_table(Account)
    await db.create(Account(id="a", balance=3, status="x"))
    (got,) = await db.transact_get(Account, ["a"], projection=[F(Account.id), F(Account.balance)])
    assert got is not None and got.balance == 3
    if backend.name == "ddblocal":  # moto ignores ProjectionExpression in TransactGetItems
        assert got.status == "open"  # not fetched: the default


async def test_tx_delete_removes_item_when_given_model_and_pk_of_a_pk_only_table(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Account)
    await db.create(Account(id="gone", balance=1))
    await db.create(Account(id="kept", balance=2))
    async with db.transaction() as tx:
        tx.delete(Account, "gone")
    assert await db.find(Account, "gone") is None
    kept = await db.find(Account, "kept")
    assert kept is not None and kept.balance == 2


async def test_db_delete_removes_item_when_given_model_and_pk_of_a_pk_only_table(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Account)
    await db.create(Account(id="gone"))
    await db.delete(Account, "gone")
    assert await db.find(Account, "gone") is None


async def test_concurrent_transfers_all_commit_and_keep_the_total_when_conflicts_cancel_them(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Wallet)
    await db.put(Wallet(id="a", balance=1000))
    await db.put(Wallet(id="b", balance=1000))
    overlapping = Overlapping(db.transport)
    # Thirty transfers on two items conflict many times: enough attempts that all commit, and no
    # quota (thirty callers' retries would drain the default 500 of one DB).
    busy = db.derive(
        transport=overlapping, retry=RetryPolicy(max_attempts=60, base=0.005, cap=0.1, quota=None)
    )
    totals: list[int] = []

    async def transfer(n: int) -> None:
        source, target = ("a", "b") if n % 2 else ("b", "a")
        async with busy.transaction() as tx:
            tx.update(Wallet(id=source), F(Wallet.balance).add(-n))
            tx.update(Wallet(id=target), F(Wallet.balance).add(n))
        a, b = await busy.transact_get(Wallet, ["a", "b"])
        assert a is not None and b is not None
        totals.append(a.balance + b.balance)

    async def audit() -> None:
        a, b = await busy.transact_get(Wallet, ["a", "b"])
        assert a is not None and b is not None
        totals.append(a.balance + b.balance)

    # The first transfer's request is in flight while the others start, so they and the audits
    # started with them overlap it.
    async with anyio.create_task_group() as group:
        for n in range(1, 31):
            group.start_soon(transfer, n)
        for _ in range(10):
            group.start_soon(audit)
    assert overlapping.conflicts["TransactWriteItems"] > 0
    assert overlapping.conflicts["TransactGetItems"] > 0
    a, b = await db.transact_get(Wallet, ["a", "b"])
    assert a is not None and b is not None
    # odd n move a -> b, even n b -> a, each exactly once: a ends 1000 - (1+3+...+29) + (2+4+...+30)
    assert (a.balance, b.balance) == (1015, 985)
    assert totals == [2000] * 40  # every transactional read saw a consistent pair


@pytest.mark.ddblocal_only  # moto ignores ClientRequestToken (TESTING.md)
async def test_a_canceled_commit_leaves_its_token_unused_so_a_retry_with_it_applies(
    db: DB, make_table: MakeTable
) -> None:
    # What retrying a canceled transaction with the same ClientRequestToken rests on: DynamoDB keeps
    # a token only for a transaction it committed, so the resend is applied, and applied once.
    await make_table(Wallet)
    request = {
        "ClientRequestToken": f"cancel-{uuid.uuid4().hex[:16]}",
        "TransactItems": [
            {
                "Update": {
                    "TableName": db.table_name(Wallet),
                    "Key": {"id": {"S": "x"}},
                    "UpdateExpression": "ADD #n0 :v0",
                    "ConditionExpression": "attribute_exists(#n1)",
                    "ExpressionAttributeNames": {"#n0": "balance", "#n1": "id"},
                    "ExpressionAttributeValues": {":v0": {"N": "1"}},
                }
            }
        ],
    }
    with pytest.raises(TransactionCanceled):
        await db.raw("TransactWriteItems", request)  # no item x yet: canceled
    await db.put(Wallet(id="x", balance=0))
    for _ in range(2):
        await db.raw("TransactWriteItems", request)
    assert (await db.get(Wallet, "x")).balance == 1
