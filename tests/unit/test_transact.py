"""Transactions without a server: payload shapes, client-side limits, the idempotency token on retries,
and cancellation reasons linked to the actions the caller added."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import (
    DB,
    PK,
    SK,
    CreatedAt,
    DeadlineExceeded,
    F,
    Model,
    RetryPolicy,
    TransactionCanceled,
    UpdatedAt,
    ValidationError,
    Version,
    deadline,
)
from aiotheory.errors import from_response
from aiotheory.retries import RetryQuota
from aiotheory.testing import FakeTransport, FaultTransport, LostReply, RecordingTransport, ServerFault
from aiotheory.transact import TransactionAction

if TYPE_CHECKING:
    from aiotheory._types import Item

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
STAMP = {"S": "2026-01-02T03:04:05.000000Z"}


class Account(Model, table="accounts"):
    id: Annotated[str, PK]
    balance: int = 0
    status: str = "open"
    created_at: Annotated[dt.datetime | None, CreatedAt] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0


class Entry(Model, table="entries"):
    account: Annotated[str, PK]
    seq: Annotated[int, SK]
    amount: int = 0


async def _no_sleep(seconds: float) -> None:
    return None


def _db(transport: object) -> DB:
    return DB(
        transport=transport,  # type: ignore[arg-type]  # a structural Transport
        region="us-east-1",
        table_prefix="dev_",
        clock=lambda: NOW,
        retry=RetryPolicy(sleep=_no_sleep),
    )


def _canceled(*codes: str, item: Item | None = None) -> Exception:
    reasons: list[dict[str, object]] = []
    for code in codes:
        reason: dict[str, object] = {"Code": code}
        if code != "None":
            reason["Message"] = "The conditional request failed"
            if item is not None:
                reason["Item"] = item
        reasons.append(reason)
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    }
    return from_response("TransactWriteItems", 400, body)


async def test_transaction_sends_one_payload_with_guards_stamps_and_token() -> None:
    recorder = RecordingTransport(FakeTransport({}))
    db = _db(recorder)
    a = Account(id="a", balance=5, version=3)
    async with db.transaction(token="tok-1") as tx:
        created = tx.create(Account(id="new", version=9))
        tx.update(a, F(Account.balance).add(-5), condition=F(Account.status) == "open")
        tx.delete(Entry, "a", 1)
        tx.check(Account(id="c"), F(Account.status) == "open")
        recorder.assert_nothing_sent()  # recording only
    assert created.version == 0 and created.created_at == NOW and created.updated_at == NOW
    ((operation, payload),) = recorder.calls
    assert operation == "TransactWriteItems"
    assert payload["ClientRequestToken"] == "tok-1"
    put, update, delete, check = payload["TransactItems"]
    assert put == {
        "Put": {
            "TableName": "dev_accounts",
            "Item": {
                "id": {"S": "new"},
                "balance": {"N": "0"},
                "status": {"S": "open"},
                "created_at": STAMP,
                "updated_at": STAMP,
                "version": {"N": "0"},
            },
            "ConditionExpression": "attribute_not_exists(#n0)",
            "ExpressionAttributeNames": {"#n0": "id"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    assert update == {
        "Update": {
            "TableName": "dev_accounts",
            "Key": {"id": {"S": "a"}},
            "UpdateExpression": "SET #n1 = :v1, #n2 = :v2 ADD #n0 :v0",
            "ConditionExpression": "attribute_exists(#n3) AND #n2 = :v3 AND #n4 = :v4",
            "ExpressionAttributeNames": {
                "#n0": "balance",
                "#n1": "updated_at",
                "#n2": "version",
                "#n3": "id",
                "#n4": "status",
            },
            "ExpressionAttributeValues": {
                ":v0": {"N": "-5"},
                ":v1": STAMP,
                ":v2": {"N": "4"},
                ":v3": {"N": "3"},
                ":v4": {"S": "open"},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    assert delete == {
        "Delete": {"TableName": "dev_entries", "Key": {"account": {"S": "a"}, "seq": {"N": "1"}}}
    }
    assert check["ConditionCheck"]["Key"] == {"id": {"S": "c"}}
    assert check["ConditionCheck"]["ConditionExpression"] == "#n0 = :v0"


async def test_transaction_token_is_new_per_transaction_and_reused_by_retries() -> None:
    recorder = RecordingTransport(FaultTransport(FakeTransport({}, {}), ServerFault(503, times=1)))
    db = _db(recorder)
    async with db.transaction() as tx:
        tx.put(Account(id="a"))
    async with db.transaction() as second:
        second.put(Account(id="a"))
    tokens = [payload["ClientRequestToken"] for _, payload in recorder.calls]
    assert len(tokens) == 3
    assert tokens[0] == tokens[1] == tx.token  # the 503 was retried with the same token
    assert tokens[2] == second.token != tx.token
    assert 1 <= len(tx.token) <= 36


async def test_transaction_sends_nothing_when_the_block_raises_or_is_empty() -> None:
    recorder = RecordingTransport(FakeTransport())
    db = _db(recorder)
    with pytest.raises(RuntimeError):  # noqa: PT012  # the error must be raised inside the block
        async with db.transaction() as tx:
            tx.put(Account(id="a"))
            raise RuntimeError("changed my mind")
    async with db.transaction():
        pass
    recorder.assert_nothing_sent()
    with pytest.raises(ValidationError, match="already sent"):
        tx.put(Account(id="b"))


async def test_transaction_refuses_an_item_twice_and_more_than_100_actions_when_recording() -> None:
    tx = _db(FakeTransport()).transaction()
    tx.put(Account(id="a"))
    with pytest.raises(ValidationError, match="two actions"):
        tx.check(Account, "a", F(Account.status) == "open")
    for i in range(99):
        tx.put(Entry(account="a", seq=i))
    with pytest.raises(ValidationError, match="at most 100"):
        tx.put(Entry(account="a", seq=100))
    assert len(tx.actions) == 100


async def test_transaction_validates_arguments_when_recording() -> None:
    tx = _db(FakeTransport()).transaction()
    with pytest.raises(ValidationError, match="managed by the library"):
        tx.update(Account(id="a"), F(Account.version).set(5))
    with pytest.raises(ValidationError, match="condition"):
        tx.check(Account(id="a"))
    with pytest.raises(ValidationError, match="needs the key"):
        tx.check(Entry, F(Entry.amount) > 0)
    with pytest.raises(ValidationError, match="needs the key"):
        tx.delete(Entry)
    with pytest.raises(ValidationError):
        tx.delete(Entry, "a")  # sort key missing
    with pytest.raises(ValidationError):
        _db(FakeTransport()).transaction(token="x" * 37)
    assert tx.actions == ()


async def test_transaction_canceled_links_each_reason_to_the_action_added() -> None:
    old = {"id": {"S": "b"}, "balance": {"N": "1"}, "version": {"N": "8"}}
    db = _db(FakeTransport(_canceled("None", "ConditionalCheckFailed", "None", item=old)))
    a, b = Account(id="a"), Account(id="b", version=7)
    tx = db.transaction()
    tx.put(a)
    tx.update(b, F(Account.balance).add(-5))
    tx.delete(Entry, "a", 1)
    with pytest.raises(TransactionCanceled) as caught:
        await tx.commit()
    reasons = caught.value.reasons
    assert [r.code for r in reasons] == [None, "ConditionalCheckFailed", None]
    failed = reasons[1]
    assert isinstance(failed.action, TransactionAction)
    assert failed.action is tx.actions[1]
    assert failed.action.kind == "update" and failed.action.model is Account and failed.action.item is b
    assert failed.action.key == {"id": {"S": "b"}}
    assert failed.action.condition is not None and "version" in failed.action.condition.debug()
    assert failed.item == old
    assert isinstance(reasons[2].action, TransactionAction) and reasons[2].action.kind == "delete"
    assert caught.value.code == "TransactionCanceledException"


async def test_transact_get_returns_models_in_order_with_none_for_missing() -> None:
    reply = {
        "Responses": [
            {"Item": {"account": {"S": "a"}, "seq": {"N": "2"}, "amount": {"N": "9"}}},
            {},
            {"Item": {"id": {"S": "a"}, "balance": {"N": "3"}}},
        ]
    }
    recorder = RecordingTransport(FakeTransport(reply))
    db = _db(recorder)
    entry, missing, account = await db.transact_get((Entry, "a", 2), (Entry, "a", 3), Account(id="a"))
    assert isinstance(entry, Entry) and entry.amount == 9
    assert missing is None
    assert isinstance(account, Account) and account.balance == 3
    ((operation, payload),) = recorder.calls
    assert operation == "TransactGetItems"
    assert payload["TransactItems"][1] == {
        "Get": {"TableName": "dev_entries", "Key": {"account": {"S": "a"}, "seq": {"N": "3"}}}
    }


async def test_transact_get_of_one_model_takes_keys_and_a_projection() -> None:
    recorder = RecordingTransport(FakeTransport({"Responses": [{}, {"Item": {"id": {"S": "b"}}}]}))
    got = await _db(recorder).transact_get(
        Account, ["a", "b"], projection=[F(Account.id), F(Account.balance)]
    )
    assert got[0] is None and got[1] is not None and got[1].id == "b"
    get = recorder.calls[0][1]["TransactItems"][0]["Get"]
    assert get["ProjectionExpression"] == "#n0, #n1"


async def test_transact_get_rejects_duplicates_and_more_than_100_items_before_sending() -> None:
    recorder = RecordingTransport(FakeTransport())
    db = _db(recorder)
    with pytest.raises(ValidationError, match="read twice"):
        await db.transact_get(Account, ["a", "a"])
    with pytest.raises(ValidationError, match="at most 100"):
        await db.transact_get(Account, [str(i) for i in range(101)])
    with pytest.raises(ValidationError):
        await db.transact_get("not a target")  # type: ignore[call-overload]  # refused at run time too
    with pytest.raises(ValidationError, match="list of keys"):
        await db.transact_get(Account, "abc")
    assert await db.transact_get(Account, []) == []
    recorder.assert_nothing_sent()


# ------------------------------------------------------------------ transaction conflicts are retried


class _Sleeps:
    """An injected sleep that records the backoff schedule instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def _sleep_forever(seconds: float) -> None:
    await asyncio.get_running_loop().create_future()


def _conflict(*codes: str, operation: str = "TransactWriteItems", request_id: str | None = None) -> Exception:
    """The reply DynamoDB sends when concurrent transactions touched some of the items."""
    reasons = [
        {"Code": code, "Message": "Transaction is ongoing for the item"}
        if code == "TransactionConflict"
        else {"Code": code}
        for code in codes
    ]
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    }
    return from_response(operation, 400, body, request_id=request_id)


def _conflict_db(transport: object, sleeps: object, **policy: object) -> DB:
    retry = RetryPolicy(sleep=sleeps, random=lambda: 0.5, base=0.1, **policy)  # type: ignore[arg-type]  # test rows
    return DB(
        transport=transport,  # type: ignore[arg-type]  # a structural Transport
        region="us-east-1",
        clock=lambda: NOW,
        retry=retry,
    )


@pytest.mark.parametrize(
    ("codes", "retryable"),
    [
        (("TransactionConflict",), True),
        (("None", "TransactionConflict", "None"), True),
        (("TransactionConflict", "TransactionConflict"), True),
        (("None", "None"), False),
        ((), False),
        (("ConditionalCheckFailed", "TransactionConflict"), False),
        (("TransactionConflict", "ThrottlingError"), False),
        (("ValidationError",), False),
    ],
)
def test_transaction_canceled_is_retryable_only_when_every_reason_is_a_conflict_or_none(
    codes: tuple[str, ...], retryable: bool
) -> None:
    error = _conflict(*codes)
    assert isinstance(error, TransactionCanceled)
    assert error.retryable is retryable
    assert RetryPolicy().retryable(error) is retryable


async def test_transaction_commits_after_one_backoff_when_canceled_only_by_conflicts() -> None:
    fake = FakeTransport(_conflict("TransactionConflict", "None"), {})
    sleeps = _Sleeps()
    db = _conflict_db(fake, sleeps)
    async with db.transaction() as tx:
        tx.update(Account(id="a"), F(Account.balance).add(-1))
        tx.update(Account(id="b"), F(Account.balance).add(1))
    assert fake.operations == ["TransactWriteItems", "TransactWriteItems"]
    first, second = (payload for _, payload in fake.calls)
    assert first == second  # the very same request, ClientRequestToken included
    assert first["ClientRequestToken"] == tx.token
    assert sleeps.delays == [0.05]  # full jitter: random() * base * 2**0


async def test_transaction_canceled_at_once_when_a_reason_is_not_a_conflict() -> None:
    fake = FakeTransport(_conflict("ConditionalCheckFailed", "TransactionConflict"))
    sleeps = _Sleeps()
    db = _conflict_db(fake, sleeps)
    tx = db.transaction()
    tx.update(Account(id="a"), F(Account.balance).add(-1))
    tx.update(Account(id="b"), F(Account.balance).add(1))
    with pytest.raises(TransactionCanceled) as caught:
        await tx.commit()
    assert len(fake.calls) == 1 and sleeps.delays == []
    assert [r.code for r in caught.value.reasons] == ["ConditionalCheckFailed", "TransactionConflict"]
    assert caught.value.reasons[0].action is tx.actions[0]


async def test_transaction_raises_the_last_cancellation_when_conflicts_outlast_max_attempts() -> None:
    fake = FakeTransport(*(_conflict("TransactionConflict", request_id=f"r{i}") for i in range(1, 5)))
    sleeps = _Sleeps()
    db = _conflict_db(fake, sleeps, max_attempts=4)
    tx = db.transaction()
    tx.put(Account(id="a"))
    with pytest.raises(TransactionCanceled) as caught:
        await tx.commit()
    assert caught.value.request_id == "r4"
    assert caught.value.reasons[0].code == "TransactionConflict"
    assert caught.value.reasons[0].action is tx.actions[0]
    assert not caught.value.outcome_unknown  # every attempt was answered: nothing was applied
    assert sleeps.delays == [0.05, 0.1, 0.2]
    assert len({payload["ClientRequestToken"] for _, payload in fake.calls}) == 1


async def test_transaction_conflict_retries_stop_when_the_retry_quota_runs_out() -> None:
    fake = FakeTransport(*(_conflict("TransactionConflict") for _ in range(3)), {})
    db = _conflict_db(fake, _Sleeps(), max_attempts=5, quota=RetryQuota(capacity=10))
    with pytest.raises(TransactionCanceled):
        async with db.transaction() as tx:
            tx.put(Account(id="a"))
    assert len(fake.calls) == 3  # two retries cost the whole quota of 10


async def test_transaction_raises_deadline_exceeded_when_the_deadline_ends_in_a_conflict_backoff() -> None:
    fake = FakeTransport(_conflict("TransactionConflict"), {})
    db = _conflict_db(fake, _sleep_forever)
    with pytest.raises(DeadlineExceeded) as caught:
        async with deadline(seconds=0.01), db.transaction() as tx:
            tx.put(Account(id="a"))
    assert caught.value.operation == "TransactWriteItems"
    assert not caught.value.outcome_unknown  # the canceled attempt applied nothing
    assert fake.remaining == 1


async def test_transaction_commits_once_when_a_lost_reply_is_followed_by_a_conflict() -> None:
    fake = FakeTransport({}, _conflict("TransactionConflict"), {})
    recorder = RecordingTransport(FaultTransport(fake, LostReply(op="TransactWriteItems")))
    sleeps = _Sleeps()
    db = _conflict_db(recorder, sleeps, max_attempts=3)
    async with db.transaction() as tx:
        tx.put(Account(id="a"))
    assert [payload["ClientRequestToken"] for _, payload in recorder.calls] == [tx.token] * 3
    assert len(sleeps.delays) == 2


async def test_transact_get_returns_models_after_a_backoff_when_canceled_only_by_conflicts() -> None:
    reply = {"Responses": [{"Item": {"id": {"S": "a"}, "balance": {"N": "7"}}}, {}]}
    fake = FakeTransport(_conflict("None", "TransactionConflict", operation="TransactGetItems"), reply)
    sleeps = _Sleeps()
    got = await _conflict_db(fake, sleeps).transact_get(Account, ["a", "b"])
    assert got[0] is not None and got[0].balance == 7 and got[1] is None
    assert fake.operations == ["TransactGetItems", "TransactGetItems"]
    assert sleeps.delays == [0.05]


async def test_update_idempotent_commits_after_a_backoff_when_canceled_only_by_conflicts() -> None:
    stored = {"Item": {"id": {"S": "a"}, "balance": {"N": "4"}, "version": {"N": "1"}}}
    fake = FakeTransport(_conflict("TransactionConflict"), {}, stored)
    sleeps = _Sleeps()
    got = await _conflict_db(fake, sleeps).update(Account(id="a"), F(Account.balance).add(4), idempotent=True)
    assert got.balance == 4
    assert fake.operations == ["TransactWriteItems", "TransactWriteItems", "GetItem"]
    assert fake.calls[0][1] == fake.calls[1][1]  # same ClientRequestToken
    assert sleeps.delays == [0.05]
