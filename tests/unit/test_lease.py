"""Lease payloads and state changes against a scripted transport: no engine, time driven by the test."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Final

import pytest

from aiotheory import DB, LeaseNotOwned, RetryPolicy, ValidationError
from aiotheory.errors import from_response
from aiotheory.testing import FakeTransport

if TYPE_CHECKING:
    from aiotheory._types import Payload

WAIT: Final = 5.0
T0: Final = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Ticker:
    """A sleep that returns only when the test calls `wake()`."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._gates: asyncio.Queue[asyncio.Event] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        gate = asyncio.Event()
        self._gates.put_nowait(gate)
        await gate.wait()

    async def wake(self) -> None:
        async with asyncio.timeout(WAIT):
            (await self._gates.get()).set()

    async def asleep(self) -> None:
        """Wait until the next sleep has begun (the work before it has finished)."""
        async with asyncio.timeout(WAIT):
            gate = await self._gates.get()
        self._gates.put_nowait(gate)


def _acquired(token: int, expires: float) -> Payload:
    return {
        "Attributes": {
            "name": {"S": "job"},
            "owner": {"S": "x"},
            "expires": {"N": repr(expires)},
            "token": {"N": str(token)},
        }
    }


def _throttled() -> Exception:
    body = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    return from_response("UpdateItem", 400, body)


def _db(fake: FakeTransport, clock: Clock, ticker: Ticker | None = None) -> DB:
    retry = RetryPolicy(max_attempts=1) if ticker is None else RetryPolicy(max_attempts=1, sleep=ticker.sleep)
    return DB(region="us-east-1", transport=fake, clock=clock, retry=retry, table_prefix="dev_")


@pytest.mark.parametrize(
    ("name", "ttl", "refresh_every"),
    [("", 30.0, None), ("job", 0.0, None), ("job", -1.0, None), ("job", 30.0, 30.0), ("job", 30.0, 0.0)],
)
def test_lease_raises_validation_error_when_arguments_are_bad(
    name: str, ttl: float, refresh_every: float | None
) -> None:
    fake = FakeTransport()
    with pytest.raises(ValidationError):
        _db(fake, Clock()).lease(name, ttl, refresh_every=refresh_every)
    assert fake.calls == []


async def test_lease_sends_conditional_acquire_and_release_when_entered_and_left() -> None:
    fake = FakeTransport(_acquired(7, T0.timestamp() + 30), {})
    async with _db(fake, Clock()).lease("job", ttl=30) as lease:
        assert lease.token == 7
        assert lease.expires == T0.timestamp() + 30
        assert lease.table == "dev_leases"
    (op1, acquire), (op2, release) = fake.calls
    assert (op1, op2) == ("UpdateItem", "UpdateItem")
    owner = acquire["ExpressionAttributeValues"][":owner"]
    assert acquire == {
        "TableName": "dev_leases",
        "Key": {"name": {"S": "job"}},
        "UpdateExpression": "SET #owner = :owner, #expires = :expires ADD #token :one",
        "ConditionExpression": "attribute_not_exists(#owner) OR #expires <= :now",
        "ExpressionAttributeNames": {"#owner": "owner", "#expires": "expires", "#token": "token"},
        "ExpressionAttributeValues": {
            ":owner": owner,
            ":expires": {"N": repr(T0.timestamp() + 30)},
            ":now": {"N": repr(T0.timestamp())},
            ":one": {"N": "1"},
        },
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    assert release == {
        "TableName": "dev_leases",
        "Key": {"name": {"S": "job"}},
        "UpdateExpression": "REMOVE #owner",
        "ConditionExpression": "#owner = :owner",
        "ExpressionAttributeNames": {"#owner": "owner"},
        "ExpressionAttributeValues": {":owner": owner},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


async def test_lease_uses_a_new_owner_id_when_acquired_again() -> None:
    fake = FakeTransport(_acquired(1, T0.timestamp() + 30), {}, _acquired(2, T0.timestamp() + 30), {})
    lease = _db(fake, Clock()).lease("job", ttl=30)
    async with lease:
        with pytest.raises(ValidationError):
            async with lease:
                pytest.fail("entered twice")
    async with lease:
        assert lease.token == 2
    owners = [payload["ExpressionAttributeValues"][":owner"] for _, payload in fake.calls]
    assert owners[0] == owners[1] != owners[2] == owners[3]


async def test_lease_is_lost_and_body_cancelled_when_refreshes_fail_until_expiry() -> None:
    clock, ticker = Clock(), Ticker()
    # acquire, then two refreshes that stay throttled; no release is sent for a lost lease
    fake = FakeTransport(_acquired(3, T0.timestamp() + 30), _throttled(), _throttled())
    lease = _db(fake, clock, ticker).lease("job", ttl=30, refresh_every=10)

    async def body() -> None:
        async with lease:
            await ticker.asleep()
            clock.advance(20)
            await ticker.wake()  # refresh 1 fails before the expiry: still held, tried again
            await ticker.asleep()
            assert not lease.lost
            clock.advance(15)
            await ticker.wake()  # refresh 2 fails after it: lost, and this body is cancelled
            async with asyncio.timeout(WAIT):
                await asyncio.Event().wait()

    with pytest.raises(LeaseNotOwned, match="refreshes failed until it expired") as lost:
        await body()
    assert lost.value.token == 3
    assert lease.lost
    assert ticker.asked == [10, 10]
    assert [payload["UpdateExpression"] for _, payload in fake.calls[1:]] == ["SET #expires = :expires"] * 2
    assert fake.remaining == 0


async def test_lease_releases_and_lets_cancellation_through_when_cancelled_elsewhere() -> None:
    fake = FakeTransport(_acquired(1, T0.timestamp() + 30), {})
    task = asyncio.current_task()
    assert task is not None

    async def body() -> None:
        async with _db(fake, Clock()).lease("job", ttl=30):
            task.cancel()
            await asyncio.Event().wait()

    with pytest.raises(asyncio.CancelledError):
        await body()
    assert task.uncancel() == 0
    assert fake.operations == ["UpdateItem", "UpdateItem"]  # the release was sent
