"""Leases end to end: one holder at a time, fencing tokens, expiry takeover, refresh, lost replies.

Time is injected: each DB gets a clock the test moves, and the refresh task sleeps through a `Ticker`
(the retry policy's `sleep`) that returns only when the test lets it, so nothing here waits on time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Final

import pytest

from aiotheory import (
    DB,
    LeaseHeld,
    LeaseNotOwned,
    LeaseRecord,
    OutcomeUnknown,
    RetryPolicy,
    lease_table,
)
from aiotheory.testing import FaultTransport, LostReply

if TYPE_CHECKING:
    from aiotheory.testing import MakeTable

#: No bounded wait on an event in this file may take longer than this.
WAIT: Final = 10.0
T0: Final = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
#: How many acquisitions the 50 contenders make between them.
ACQUISITIONS: Final = 40


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Ticker:
    """A sleep that returns only when the test says so; `tick()` lets one sleeper go and waits until the
    loop it runs in sleeps again (so the work between two sleeps, a refresh, has finished)."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._gates: asyncio.Queue[asyncio.Event] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        gate = asyncio.Event()
        self._gates.put_nowait(gate)
        await gate.wait()

    async def wake(self) -> None:
        """Let the next sleeper go, without waiting for it to sleep again."""
        async with asyncio.timeout(WAIT):
            (await self._gates.get()).set()

    async def tick(self) -> None:
        async with asyncio.timeout(WAIT):
            (await self._gates.get()).set()
            gate = await self._gates.get()
        self._gates.put_nowait(gate)


def _driven(db: DB, clock: Clock, ticker: Ticker | None = None) -> DB:
    """A DB on the same engine whose clock (and refresh sleeps) the test drives."""
    retry = RetryPolicy(base=0.001) if ticker is None else RetryPolicy(base=0.001, sleep=ticker.sleep)
    return db.derive(clock=clock, retry=retry)


async def _stored(db: DB, name: str) -> LeaseRecord:
    return await db.get(LeaseRecord, name, consistent=True)


async def test_lease_tokens_increase_when_acquired_after_release(db: DB, make_table: MakeTable) -> None:
    await make_table(LeaseRecord)
    async with db.lease("export", ttl=30) as first:
        assert first.token == 1
        assert (await _stored(db, "export")).owner is not None
    # released: the next acquisition succeeds at once, with the next token
    async with db.lease("export", ttl=30) as second:
        assert second.token == 2
    stored = await _stored(db, "export")
    assert stored.owner is None
    assert stored.token == 2


async def test_lease_raises_lease_held_with_holder_expiry_when_another_holds(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(LeaseRecord)
    clock = Clock()
    driven = _driven(db, clock)
    try:
        async with driven.lease("export", ttl=30) as holder:
            assert holder.expires == T0.timestamp() + 30
            clock.advance(29)
            with pytest.raises(LeaseHeld) as held:
                async with driven.lease("export", ttl=30):
                    pytest.fail("a second holder entered")
            assert held.value.expires == holder.expires
            assert held.value.name == "export"
            assert held.value.table == db.table_prefix + "leases"
        assert (await _stored(db, "export")).token == 1  # the refused attempt added nothing
    finally:
        await driven.close()


async def test_lease_taken_over_when_expired_and_old_holder_gets_lease_not_owned(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(LeaseRecord)
    late = Clock(T0 + dt.timedelta(seconds=31))
    old_db, new_db = _driven(db, Clock(), Ticker()), _driven(db, late)
    old = old_db.lease("export", ttl=30)

    async def held_through_takeover() -> None:
        async with old:
            async with new_db.lease("export", ttl=30) as new:  # the old one expired at T0 + 30
                assert new.token == old.token + 1
                with pytest.raises(LeaseNotOwned):
                    await old.refresh()
            assert (await _stored(db, "export")).owner is None  # the new holder released it

    try:
        with pytest.raises(LeaseNotOwned) as not_owned:
            await held_through_takeover()  # the old holder's release is refused
        assert not_owned.value.token == 1
        assert (await _stored(db, "export")).token == 2
    finally:
        await old_db.close()
        await new_db.close()


async def test_lease_refresh_keeps_it_past_its_ttl_when_held(db: DB, make_table: MakeTable) -> None:
    await make_table(LeaseRecord)
    clock, ticker = Clock(), Ticker()
    driven = _driven(db, clock, ticker)
    try:
        async with driven.lease("export", ttl=30, refresh_every=10) as lease:
            clock.advance(20)
            await ticker.tick()  # one refresh: the expiry moves to T0 + 20 + 30
            assert ticker.asked == [10, 10]
            assert lease.expires == T0.timestamp() + 50
            assert (await _stored(db, "export")).expires == T0.timestamp() + 50
            clock.advance(20)  # T0 + 40: past the first expiry
            with pytest.raises(LeaseHeld) as held:
                async with driven.lease("export", ttl=30):
                    pytest.fail("a second holder entered a refreshed lease")
            assert held.value.expires == T0.timestamp() + 50
            assert not lease.lost
    finally:
        await driven.close()


async def test_lease_cancels_body_and_raises_not_owned_when_refresh_finds_it_taken(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(LeaseRecord)
    ticker = Ticker()
    old_db, new_db = _driven(db, Clock(), ticker), _driven(db, Clock(T0 + dt.timedelta(seconds=31)))
    old = old_db.lease("export", ttl=30)
    body_cancelled = False

    async def hold_until_cancelled() -> None:
        nonlocal body_cancelled
        async with old:
            async with new_db.lease("export", ttl=30):
                pass
            await ticker.wake()  # let the refresh run: it finds the lease taken
            try:
                async with asyncio.timeout(WAIT):
                    await asyncio.Event().wait()  # the body's work, until the lost lease cancels it
            except asyncio.CancelledError:
                body_cancelled = True
                raise

    try:
        with pytest.raises(LeaseNotOwned, match="a refresh found it taken over"):
            await hold_until_cancelled()
        assert body_cancelled
        assert old.lost
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # our cancel was taken back
    finally:
        await old_db.close()
        await new_db.close()


async def test_lease_has_one_holder_and_one_token_when_acquisition_reply_lost(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(LeaseRecord)
    # The first attempt lands and its reply is lost; the resend is refused by our own first write.
    lossy = db.derive(transport=FaultTransport(db.transport, LostReply(op="UpdateItem", times=1)))
    async with lossy.lease("export", ttl=30) as lease:
        assert lease.token == 1
        stored = await _stored(db, "export")
        assert stored.token == 1
        with pytest.raises(LeaseHeld):
            async with db.lease("export", ttl=30):
                pytest.fail("a second holder entered")
    assert (await _stored(db, "export")).owner is None
    async with db.lease("export", ttl=30) as after:
        assert after.token == 2


async def test_lease_resolves_from_a_read_when_the_only_attempt_loses_its_reply(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(LeaseRecord)
    # One attempt per call: every lost reply ends in OutcomeUnknown inside, resolved by a consistent read.
    lossy = db.derive(
        transport=FaultTransport(db.transport, LostReply(op="UpdateItem", times=None)),
        retry=RetryPolicy(max_attempts=1),
    )
    async with lossy.lease("export", ttl=30) as lease:  # acquire landed: the read shows our owner id
        assert lease.token == 1
        with pytest.raises(LeaseHeld):
            async with db.lease("export", ttl=30):
                pytest.fail("a second holder entered")
    # the release landed too: the read shows the item free at our token
    stored = await _stored(db, "export")
    assert stored.owner is None
    assert stored.token == 1


async def test_lease_raises_outcome_unknown_when_a_refresh_cannot_be_confirmed(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(LeaseRecord)
    lossy = db.derive(
        transport=FaultTransport(db.transport, LostReply(op="UpdateItem", times=None)),
        retry=RetryPolicy(max_attempts=1),
    )
    async with lossy.lease("export", ttl=30) as lease:
        before = lease.expires
        with pytest.raises(OutcomeUnknown):
            await lease.refresh()
        assert lease.expires == before  # only a confirmed refresh moves the expiry we rely on


# moto's threaded server checks a condition and writes the item without a lock, so two conditional
# updates racing on one item can both pass there; DynamoDB (and its Local engine) check atomically.
@pytest.mark.ddblocal_only
async def test_lease_never_has_two_holders_when_50_tasks_contend(db: DB, make_table: MakeTable) -> None:
    await make_table(LeaseRecord)
    events: list[tuple[str, int]] = []
    refused = 0

    async def contender() -> None:
        nonlocal refused
        while len(events) < 2 * ACQUISITIONS:
            try:
                async with db.lease("hot", ttl=30) as lease:
                    events.append(("enter", lease.token))
                    await db.find(LeaseRecord, "hot")  # hold it across a round trip
                    events.append(("exit", lease.token))
            except LeaseHeld:
                refused += 1

    async with asyncio.timeout(120):
        await asyncio.gather(*(contender() for _ in range(50)))
    entered = [token for kind, token in events[0::2]]
    assert [kind for kind, _ in events] == ["enter", "exit"] * len(entered)  # never two holders
    assert events[1::2] == [("exit", token) for token in entered]
    assert entered == sorted(set(entered))  # tokens strictly increase across acquisitions
    assert len(entered) >= ACQUISITIONS
    assert refused > len(entered)  # they did contend
    stored = await _stored(db, "hot")
    assert stored.token == entered[-1] == len(entered)  # one token per acquisition, none skipped
    assert stored.owner is None


async def test_lease_table_creates_a_named_lease_table_when_asked(db: DB, make_table: MakeTable) -> None:
    locks = lease_table("locks")
    assert lease_table("locks") is locks
    assert lease_table() is LeaseRecord
    await make_table(locks)
    async with db.lease("export", ttl=5, table="locks") as lease:
        assert lease.table == db.table_prefix + "locks"
        assert (await db.get(locks, "export", consistent=True)).token == 1
