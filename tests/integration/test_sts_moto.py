"""The lean STS client against a real moto server: AssumeRole through the one call function."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from aiotheory._call import call
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.credentials._sts import StsTransport, build_assume_role_payload, credentials_from_assume_role
from aiotheory.retries import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

_BASE = Credentials(access_key_id="AKIDBASEEXAMPLE", secret_access_key="base-secret")
_ROLE = "arn:aws:iam::111111111111:role/partner-x"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def sts(moto_endpoint: str) -> AsyncIterator[StsTransport]:
    transport = StsTransport("us-east-1", StaticProvider(_BASE), endpoint_url=moto_endpoint)
    try:
        yield transport
    finally:
        await transport.close()


async def test_assume_role_returns_temporary_credentials_with_requested_lifetime(sts: StsTransport) -> None:
    payload = build_assume_role_payload(_ROLE, "partner-x-session", duration_seconds=900, external_id="ext-1")
    before = time.time()
    reply = await call(sts, "AssumeRole", payload, RetryPolicy(max_attempts=1))
    creds = credentials_from_assume_role(reply)
    assert creds.access_key_id.startswith("ASIA")
    assert creds.secret_access_key
    assert creds.session_token
    assert creds.expiration is not None
    # moto stamps Expiration = now + DurationSeconds with its own (whole-second) clock.
    assert before + 900 - 2 <= creds.expiration <= time.time() + 900 + 2
    assert (
        reply["AssumedRoleUser"]["Arn"]
        == "arn:aws:sts::111111111111:assumed-role/partner-x/partner-x-session"
    )


async def test_assume_role_defaults_to_one_hour(sts: StsTransport) -> None:
    reply = await call(sts, "AssumeRole", build_assume_role_payload(_ROLE, "s2"), RetryPolicy(max_attempts=1))
    expiration = credentials_from_assume_role(reply).expiration
    assert expiration is not None
    assert abs(expiration - (time.time() + 3600)) < 5


async def test_assumed_credentials_can_assume_again(sts: StsTransport, moto_endpoint: str) -> None:
    first = credentials_from_assume_role(
        await call(sts, "AssumeRole", build_assume_role_payload(_ROLE, "s3"), RetryPolicy(max_attempts=1))
    )
    chained = StsTransport("us-east-1", StaticProvider(first), endpoint_url=moto_endpoint)
    try:
        reply = await call(
            chained,
            "AssumeRole",
            build_assume_role_payload("arn:aws:iam::222222222222:role/y", "s4"),
            RetryPolicy(max_attempts=1),
        )
    finally:
        await chained.close()
    second = credentials_from_assume_role(reply)
    assert second.access_key_id != first.access_key_id
    assert reply["AssumedRoleUser"]["Arn"].startswith("arn:aws:sts::222222222222:assumed-role/y/")
