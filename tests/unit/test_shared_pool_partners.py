"""Partners sharing one keep-alive pool never read each other's replies, over real local sockets.

Two lean transports sign with different static credentials and share one HttpClient, as `accounts`
wires them. The server stamps every item it returns with the access key id that signed the request,
so a reply crossing partners shows in the document even when both ask for the same key.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest

from aiotheory._call import call
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.errors import ReplyMismatch
from aiotheory.retries import RetryPolicy
from aiotheory.testing._faultserver import Reply
from aiotheory.transport._pool import HttpClient
from aiotheory.transport.lean import LeanTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory._types import Payload

AKID_A = "AKIDPARTNERAAAAAAAAA"
AKID_B = "AKIDPARTNERBBBBBBBBB"
PARTNER_A = Credentials(access_key_id=AKID_A, secret_access_key="secret-of-partner-a")
PARTNER_B = Credentials(access_key_id=AKID_B, secret_access_key="secret-of-partner-b")


class _Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _zero() -> float:
    return 0.0


def _policy(attempts: int) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, sleep=_Sleeps(), random=_zero)


def _item(key: str, akid: str) -> dict[str, object]:
    return {"Item": {"pk": {"S": key}, "signed_by": {"S": akid}}}


def _get_item(key: str) -> Payload:
    return {"TableName": "orders", "Key": {"pk": {"S": key}}}


class _PartnerServer:
    """Answers each GetItem with the asked-for item stamped with the key id from `Authorization`.

    `seen` records (connection number, key id, key) per request received, so which partner signed
    each request, and on which connection, is asserted rather than assumed. `replay(n)` makes the next
    `n` requests get the previous reply sent on their connection, as a proxy out of step would.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.url = ""
        self._replays = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> _PartnerServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self.writers:
            writer.close()
        await self._server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def stray(self, connection: int, key: str, akid: str) -> None:
        """Write, synchronously, a complete 200 GetItem reply that no request on `connection` asked for."""
        self.writers[connection - 1].write(Reply(body=json.dumps(_item(key, akid)).encode()).render(0))

    def replay(self, times: int) -> None:
        self._replays = times

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.writers.append(writer)
        connection = len(self.writers)
        last = b""
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                length = int(head.split("content-length:")[1].split("\r\n")[0])
                body = json.loads(await reader.readexactly(length))
                # "authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ..."
                akid = head.split("credential=")[1].split("/")[0].upper()
                key = body["Key"]["pk"]["S"]
                self.seen.append((connection, akid, key))
                if self._replays and last:
                    self._replays -= 1
                    reply = last
                else:
                    reply = Reply(body=json.dumps(_item(key, akid)).encode()).render(len(self.seen))
                last = reply
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


def _partner(srv: _PartnerServer, http: HttpClient, creds: Credentials) -> LeanTransport:
    return LeanTransport("us-east-1", endpoint_url=srv.url, credentials=StaticProvider(creds), http=http)


@pytest.fixture
async def one_connection() -> AsyncIterator[HttpClient]:
    http = HttpClient(max_connections=1, read_timeout=2.0, proxies_from_env=False)
    try:
        yield http
    finally:
        await http.close()


async def _until_read_by_the_loop() -> None:
    """Bytes already in the socket are in the StreamReader after two loop turns, never later.

    Turn one: the selector reports the socket readable and queues its read behind this task's wake-up;
    turn two runs that read before this task resumes again. No clock involved.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_call_signs_each_partner_on_one_shared_connection_when_pool_holds_one(
    one_connection: HttpClient,
) -> None:
    # The premise of the tests below: the partners really do take turns on the same socket.
    async with _PartnerServer() as srv:
        a, b = _partner(srv, one_connection, PARTNER_A), _partner(srv, one_connection, PARTNER_B)
        got_a = await call(a, "GetItem", _get_item("user#1"), _policy(1))
        got_b = await call(b, "GetItem", _get_item("user#1"), _policy(1))
    assert got_a == _item("user#1", AKID_A)
    assert got_b == _item("user#1", AKID_B)
    assert srv.seen == [(1, AKID_A, "user#1"), (1, AKID_B, "user#1")]


@pytest.mark.parametrize("b_key", ["user#1", "user#2"], ids=["same-key", "other-key"])
@pytest.mark.parametrize("where", ["stream-reader", "socket"])
async def test_call_returns_partner_b_own_item_when_shared_idle_connection_holds_partner_a_stray_reply(
    one_connection: HttpClient, where: str, b_key: str
) -> None:
    async with _PartnerServer() as srv:
        a, b = _partner(srv, one_connection, PARTNER_A), _partner(srv, one_connection, PARTNER_B)
        assert await call(a, "GetItem", _get_item("user#1"), _policy(1)) == _item("user#1", AKID_A)
        srv.stray(1, "user#1", AKID_A)  # a late duplicate of A's reply, on the idle shared connection
        if where == "stream-reader":
            await _until_read_by_the_loop()
        # else: written synchronously, so still in the kernel buffer, unseen by the loop
        # One attempt: a ReplyMismatch retry cannot hide a reused connection, and with "same-key" no
        # key check could tell A's reply from B's; only the checkout's discard keeps B's reply B's.
        got_b = await call(b, "GetItem", _get_item(b_key), _policy(1))
    assert got_b == _item(b_key, AKID_B)
    # B's request went out once, on a new connection: the one holding A's bytes was dropped unused.
    assert srv.seen == [(1, AKID_A, "user#1"), (2, AKID_B, b_key)]


async def test_call_returns_partner_b_item_from_a_later_reply_when_proxy_answers_with_partner_a_item(
    one_connection: HttpClient,
) -> None:
    async with _PartnerServer() as srv:
        a, b = _partner(srv, one_connection, PARTNER_A), _partner(srv, one_connection, PARTNER_B)
        assert await call(a, "GetItem", _get_item("user#1"), _policy(1)) == _item("user#1", AKID_A)
        srv.replay(1)  # B's first request is answered with A's reply, as by a desynchronised proxy
        policy = _policy(3)
        got_b = await call(b, "GetItem", _get_item("user#2"), policy)
    assert got_b == _item("user#2", AKID_B)
    assert [(akid, key) for _, akid, key in srv.seen] == [
        (AKID_A, "user#1"),
        (AKID_B, "user#2"),
        (AKID_B, "user#2"),  # the call function's one resend, after ReplyMismatch
    ]
    assert isinstance(policy.sleep, _Sleeps)
    assert len(policy.sleep.delays) == 1


async def test_call_raises_reply_mismatch_when_every_reply_holds_partner_a_item(
    one_connection: HttpClient,
) -> None:
    async with _PartnerServer() as srv:
        a, b = _partner(srv, one_connection, PARTNER_A), _partner(srv, one_connection, PARTNER_B)
        await call(a, "GetItem", _get_item("user#1"), _policy(1))
        srv.replay(3)
        with pytest.raises(ReplyMismatch) as info:
            await call(b, "GetItem", _get_item("user#2"), _policy(3))
    assert info.value.operation == "GetItem"
    assert info.value.retryable
    assert "user#1" not in str(info.value)  # neither A's key nor its data reaches B through the error
    assert [(akid, key) for _, akid, key in srv.seen] == [(AKID_A, "user#1")] + [(AKID_B, "user#2")] * 3


async def _get_as(transport: LeanTransport, key: str) -> Payload:
    return await call(transport, "GetItem", _get_item(key), _policy(1))


async def test_call_returns_each_caller_its_own_reply_when_partners_share_four_connections() -> None:
    http = HttpClient(max_connections=4, read_timeout=5.0, proxies_from_env=False)
    try:
        async with _PartnerServer() as srv:
            a, b = _partner(srv, http, PARTNER_A), _partner(srv, http, PARTNER_B)
            # Both partners ask for the same keys, interleaved: only the signer tells the replies apart.
            asked = [(t, akid, f"user#{i}") for i in range(50) for t, akid in ((a, AKID_A), (b, AKID_B))]
            results = await asyncio.gather(*(_get_as(t, key) for t, _, key in asked))
    finally:
        await http.close()
    for (_, akid, key), got in zip(asked, results, strict=True):
        assert got == _item(key, akid)
    assert sorted((akid, key) for _, akid, key in srv.seen) == sorted((akid, key) for _, akid, key in asked)
    by_connection: dict[int, set[str]] = {}
    for connection, akid, _ in srv.seen:
        by_connection.setdefault(connection, set()).add(akid)
    assert len(by_connection) <= 4
    assert any(len(signers) == 2 for signers in by_connection.values())  # the pool was really shared
