"""Leases: one holder at a time for a named job, with a fencing token (`async with db.lease(name, ttl=...)`).

Acquire, refresh and release are conditional UpdateItems on one item per lease, sent through the DB's
requester; each is safe to resend after a lost reply (see `Lease`). Imports the requester (typing),
the errors and the model base; knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import types
import uuid
from typing import TYPE_CHECKING, Annotated, Final, Self

from ._observe import logger as _logger
from .errors import (
    AwsError,
    ConditionFailed,
    DeadlineExceeded,
    LeaseHeld,
    LeaseNotOwned,
    OutcomeUnknown,
    TransportError,
    ValidationError,
)
from .model import PK, Model

if TYPE_CHECKING:
    from types import TracebackType

    from ._requester import Requester
    from ._types import Item, Payload

__all__ = ["Lease", "LeaseRecord", "lease_table"]

_log = _logger("aiotheory.lease")


class LeaseRecord(Model, table="leases"):
    """The stored lease, one item per name: `await db.ensure_table(LeaseRecord)` creates the table.

    `owner` is the random id of the current acquisition (absent when free), `expires` its expiry in
    epoch seconds, `token` the fencing token. Never put a TTL on this table or delete its items: the
    token must survive a release so that the next acquisition gets a larger one.
    """

    name: Annotated[str, PK]
    owner: str | None = None
    expires: float = 0.0
    token: int = 0


_TABLES: Final[dict[str, type[LeaseRecord]]] = {"leases": LeaseRecord}


def lease_table(table: str = "leases") -> type[LeaseRecord]:
    """The `LeaseRecord` model stored in `table` (for `db.create_table` / `ensure_table`); one per name."""
    model = _TABLES.get(table)
    if model is None:
        model = _TABLES[table] = types.new_class(
            "LeaseRecord", (LeaseRecord,), {"table": table}, _in_this_module
        )
    return model


def _in_this_module(namespace: dict[str, object]) -> None:
    namespace["__module__"] = __name__
    namespace["__qualname__"] = "LeaseRecord"


# The expressions are the same text for every lease: only the values change. Free means no owner (a
# release removes it) or an expiry passed by the acquirer's clock. `:now` is fixed in the payload, and
# the first attempt writes an expiry above it, so a resend of a landed acquisition is always refused:
# the refusal's old item (our owner id) proves the first attempt landed, and ADD never applies twice.
_ACQUIRE: Final = "SET #owner = :owner, #expires = :expires ADD #token :one"
_FREE: Final = "attribute_not_exists(#owner) OR #expires <= :now"
_ACQUIRE_NAMES: Final = {"#owner": "owner", "#expires": "expires", "#token": "token"}
_REFRESH: Final = "SET #expires = :expires"
_REFRESH_NAMES: Final = {"#owner": "owner", "#expires": "expires"}
_RELEASE: Final = "REMOVE #owner"
_RELEASE_NAMES: Final = {"#owner": "owner"}
_OURS: Final = "#owner = :owner"


class Lease:
    """A named lease held by at most one holder at a time; `async with db.lease(name, ttl=30) as lease`.

    Entering acquires it with one conditional UpdateItem (free, released or expired) and raises
    LeaseHeld otherwise. While held, a background task owned by the context manager extends the expiry
    every `refresh_every` seconds, conditioned on still being the owner. If a refresh finds the lease
    taken over, or refreshes fail until the expiry passes, `lost` becomes True, the body is cancelled
    and the `async with` raises LeaseNotOwned. Leaving releases it (removes the owner, conditioned on
    ownership) so the next acquisition succeeds at once; a release that finds another owner raises
    LeaseNotOwned.

    `token` is the fencing token: it grows by one on every acquisition of the name (an ADD on the
    item, never reset), so a writer can guard a write on it (`F(Job.token) < lease.token`).

    Expiries are wall-clock epoch seconds from the DB's `clock`; refresh waits use the DB's retry
    policy `sleep` (both injectable). Build with `db.lease(...)`: construction does no I/O.
    """

    __slots__ = (
        "_cancelled",
        "_host",
        "_lost",
        "_owner",
        "_refresher",
        "_requester",
        "expires",
        "name",
        "refresh_every",
        "table",
        "token",
        "ttl",
    )

    def __init__(
        self,
        requester: Requester,
        name: str,
        ttl: float,
        *,
        table: str = "leases",
        refresh_every: float | None = None,
    ) -> None:
        if not name:
            raise ValidationError("a lease needs a non-empty name")
        if not ttl > 0:
            raise ValidationError(f"lease ttl must be positive, got {ttl!r}")
        every = ttl / 3 if refresh_every is None else refresh_every
        if not 0 < every < ttl:
            raise ValidationError(f"refresh_every must be above 0 and below ttl ({ttl}), got {every!r}")
        self._requester = requester
        self.name = name
        self.ttl = ttl
        self.refresh_every = every
        #: The table with the DB's prefix applied.
        self.table = requester.table_prefix + table
        #: The fencing token of the current (or last) acquisition; 0 before the first.
        self.token = 0
        #: The expiry (epoch seconds) last written by an acquisition or refresh; 0.0 before the first.
        self.expires = 0.0
        self._owner: str | None = None
        self._lost: str | None = None
        self._cancelled = False
        self._host: asyncio.Task[object] | None = None
        self._refresher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Lease(name={self.name!r}, table={self.table!r}, token={self.token})"

    @property
    def lost(self) -> bool:
        """True once a refresh found the lease taken over, or the expiry passed without a refresh."""
        return self._lost is not None

    @property
    def held(self) -> bool:
        """True between a successful acquisition and the release (also after it was lost)."""
        return self._owner is not None

    # ------------------------------------------------------------------------------- context manager

    async def __aenter__(self) -> Self:
        """Acquire the lease and start its refresh task.

        Raises:
            LeaseHeld: another holder has it and its expiry has not passed.
            OutcomeUnknown: every attempt lost its reply and a read shows the lease is not ours.
            ResourceNotFound: the lease table does not exist (`db.ensure_table(lease_table(...))`).
        """
        if self._owner is not None:
            raise ValidationError(f"lease {self.name!r} is already held by this Lease object")
        host = asyncio.current_task()
        if host is None:
            raise ValidationError("a lease must be entered from inside an asyncio task")
        await self._acquire()
        self._lost = None
        self._cancelled = False
        self._host = host
        self._refresher = asyncio.get_running_loop().create_task(
            self._keep(), name=f"aiotheory lease refresh {self.name!r}"
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        refresher, self._refresher = self._refresher, None
        host, self._host = self._host, None
        if refresher is not None:
            refresher.cancel()
            # wait() does not raise the task's CancelledError, and still lets a cancel of ours through.
            await asyncio.wait((refresher,))
        owner, self._owner = self._owner, None
        lost = self._lost
        if lost is None:
            if owner is not None:
                await self._release(owner)
            return False
        if self._cancelled and host is not None:
            self._cancelled = False
            if host.uncancel() > 0 and et is not None and issubclass(et, asyncio.CancelledError):
                return False  # someone else cancelled the task too: their cancellation goes on
        error = self._not_owned(f"was lost while held: {lost}")
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            error.__context__ = exc
        raise error

    # ---------------------------------------------------------------------------------- operations

    async def refresh(self) -> None:
        """Extend the expiry to now + ttl, only if the lease is still ours.

        Raises:
            LeaseNotOwned: another acquisition took the lease (it lapsed), or it was never acquired.
        """
        owner = self._owner
        if owner is None:
            raise self._not_owned("is not held")
        expires = self._now() + self.ttl
        payload: Payload = {
            "TableName": self.table,
            "Key": self._key(),
            "UpdateExpression": _REFRESH,
            "ConditionExpression": _OURS,
            "ExpressionAttributeNames": dict(_REFRESH_NAMES),
            "ExpressionAttributeValues": {":owner": {"S": owner}, ":expires": {"N": repr(expires)}},
        }
        try:
            # A SET to a value applies twice as once, and a refusal can never be our own first attempt
            # (it does not change the owner): resending is safe.
            await self._requester.send("UpdateItem", payload, resend=True, key=payload["Key"])
        except ConditionFailed as exc:
            raise self._not_owned("was taken over") from exc
        self.expires = expires

    async def _acquire(self) -> None:
        owner = uuid.uuid4().hex
        now = self._now()
        expires = now + self.ttl
        key = self._key()
        payload: Payload = {
            "TableName": self.table,
            "Key": key,
            "UpdateExpression": _ACQUIRE,
            "ConditionExpression": _FREE,
            "ExpressionAttributeNames": dict(_ACQUIRE_NAMES),
            "ExpressionAttributeValues": {
                ":owner": {"S": owner},
                ":expires": {"N": repr(expires)},
                ":now": {"N": repr(now)},
                ":one": {"N": "1"},
            },
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            reply = await self._requester.send("UpdateItem", payload, resend=True, key=key)
            item: Item = reply["Attributes"]
        except ConditionFailed as exc:
            stored = exc.old_item or {}
            if not (exc.outcome_unknown and _owner_of(stored) == owner):
                raise LeaseHeld(self.name, table=self.table, expires=_expires_of(stored)) from exc
            item = stored  # the resend was refused by our own first attempt, which landed
        except OutcomeUnknown:
            # Every attempt lost its reply: only a consistent read can tell whether one landed.
            found = await self._read()
            if found is None or _owner_of(found) != owner:
                raise
            item = found
        self._owner = owner
        self.token = int(item["token"]["N"])
        self.expires = _expires_of(item)

    async def _release(self, owner: str) -> None:
        payload: Payload = {
            "TableName": self.table,
            "Key": self._key(),
            "UpdateExpression": _RELEASE,
            "ConditionExpression": _OURS,
            "ExpressionAttributeNames": dict(_RELEASE_NAMES),
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            await self._requester.send("UpdateItem", payload, resend=True, key=payload["Key"])
        except ConditionFailed as exc:
            if exc.outcome_unknown and self._released(exc.old_item or {}, owner):
                return
            raise self._not_owned("was taken over before its release") from exc
        except OutcomeUnknown:
            # Every attempt lost its reply: read the item to tell whether one landed.
            stored = await self._read() or {}
            if self._released(stored, owner):
                return
            if _owner_of(stored) == owner:
                raise  # still ours: it lapses at its expiry
            raise self._not_owned("was taken over before its release") from None

    def _released(self, stored: Item, owner: str) -> bool:
        """Whether a refused or unconfirmed release may be our own, landed: the item is free at our
        token, or it is not ours and nobody could have taken it yet (our expiry has not passed)."""
        found = _owner_of(stored)
        if found == owner:
            return False
        if found is None and _token_of(stored) == self.token:
            return True
        return self._now() < self.expires

    def _not_owned(self, why: str) -> LeaseNotOwned:
        return LeaseNotOwned(
            f"lease {self.name!r} in {self.table} {why}", name=self.name, table=self.table, token=self.token
        )

    async def _keep(self) -> None:
        """The refresh task: extend the expiry every `refresh_every` seconds until cancelled or lost."""
        sleep = self._requester.retry.sleep
        while True:
            await sleep(self.refresh_every)
            try:
                await self.refresh()
            except LeaseNotOwned:
                self._lose("a refresh found it taken over")
                return
            except (AwsError, TransportError, DeadlineExceeded) as exc:
                # Not lost yet: the lease is ours until its expiry, so try again at the next interval.
                if self._now() >= self.expires:
                    self._lose(f"refreshes failed until it expired (last: {type(exc).__name__})")
                    return
                _log.warning("lease %r: refresh failed (%s); trying again", self.name, type(exc).__name__)

    def _lose(self, why: str) -> None:
        self._lost = why
        host = self._host
        if host is not None and not host.done():
            self._cancelled = True
            host.cancel(f"lease {self.name!r} lost")

    async def _read(self) -> Item | None:
        reply = await self._requester.send(
            "GetItem", {"TableName": self.table, "Key": self._key(), "ConsistentRead": True}
        )
        item: Item | None = reply.get("Item")
        return item

    def _key(self) -> Item:
        return {"name": {"S": self.name}}

    def _now(self) -> float:
        return self._requester.clock().timestamp()


def _owner_of(item: Item) -> str | None:
    value = item.get("owner")
    return None if value is None else str(value["S"])


def _expires_of(item: Item) -> float:
    value = item.get("expires")
    return 0.0 if value is None else float(value["N"])


def _token_of(item: Item) -> int:
    value = item.get("token")
    return 0 if value is None else int(value["N"])
