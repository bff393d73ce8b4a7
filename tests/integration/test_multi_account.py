"""Multi-account on moto: partners reached through STS AssumeRole, isolated, with a refreshing cache.

moto maps each AssumeRole's temporary keys to the role's account and never checks expiry, so expiry is
driven by an injected clock and STS failures by a switchable wrapper at the STS transport seam.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, PK, Model
from aiotheory.accounts import AccountConfig, Accounts
from aiotheory.errors import AccountNotFound, CredentialsError, ServiceError
from aiotheory.testing import ExpiredTokenFault, FaultTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory._types import Payload
    from aiotheory.credentials import Credentials
    from aiotheory.testing import Backend
    from aiotheory.transport.base import Transport

# STS AssumeRole and per-account isolation are moto's (DynamoDB Local has no STS and one account).
pytestmark = pytest.mark.moto_only

ROLE_1 = "arn:aws:iam::111111111111:role/partner-one"
ROLE_2 = "arn:aws:iam::222222222222:role/partner-two"


class Doc(Model, table="docs"):
    id: Annotated[str, PK]
    body: str = ""


class Clock:
    """Real wall time plus an offset the test moves (moto stamps expiry from the real clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class SwitchableSts:
    """Counts AssumeRole calls reaching STS; fails them with a 503 while `failing`."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.failing = False
        self.sent = 0
        self.succeeded = 0
        self.assumed_arns: list[str] = []

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        self.sent += 1
        if self.failing:
            raise ServiceError("unavailable", code="ServiceUnavailable", operation=operation, status=503)
        reply = await self.inner.send(operation, payload)
        self.succeeded += 1
        self.assumed_arns.append(reply["AssumedRoleUser"]["Arn"])
        return reply

    async def close(self) -> None:
        await self.inner.close()


class Setup:
    def __init__(self, backend: Backend) -> None:
        self.clock = Clock()
        self.sts: list[SwitchableSts] = []
        self.faults: list[FaultTransport] = []
        self.transport_faults: tuple[ExpiredTokenFault, ...] = ()
        self.base = DB(
            region=backend.region,
            endpoint_url=backend.endpoint_url,
            credentials=backend.credentials,
            table_prefix=f"m{uuid.uuid4().hex[:8]}_",
            transport="lean",
        )
        self.accounts = Accounts(
            {
                "partner1": AccountConfig(ROLE_1, "ext-1"),
                "partner2": AccountConfig(ROLE_2, region="us-east-1", duration=900),
            },
            base=self.base,
            sts_endpoint_url=backend.endpoint_url,
            advisory_margin=300,
            mandatory_margin=60,
            clock=self.clock,
            wrap_sts=self._wrap_sts,
            wrap_transport=self._wrap_transport,
        )

    def _wrap_sts(self, inner: Transport) -> Transport:
        sts = SwitchableSts(inner)
        self.sts.append(sts)
        return sts

    def _wrap_transport(self, inner: Transport) -> Transport:
        fault = FaultTransport(inner, *self.transport_faults)
        self.faults.append(fault)
        return fault

    @property
    def assume_role_calls(self) -> int:
        return sum(s.succeeded for s in self.sts)


@pytest.fixture
async def setup(backend: Backend) -> AsyncIterator[Setup]:
    made = Setup(backend)
    try:
        yield made
    finally:
        await made.accounts.close()
        await made.base.close()


async def test_items_written_through_one_partner_are_invisible_to_the_other(setup: Setup) -> None:
    p1 = await setup.accounts.db("partner1")
    p2 = await setup.accounts.db("partner2")
    await p1.create_table(Doc)
    await p2.create_table(Doc)
    await p1.put(Doc(id="d1", body="partner one's"))
    assert (await p1.get(Doc, "d1")).body == "partner one's"
    assert await p2.find(Doc, "d1") is None
    await setup.base.create_table(Doc)  # the base account's own table: also empty
    assert await setup.base.find(Doc, "d1") is None
    assert setup.assume_role_calls == 2  # one per partner account


async def test_partner_db_is_cached_and_unknown_partner_raises(setup: Setup) -> None:
    assert await setup.accounts.db("partner1") is await setup.accounts.db("partner1")
    with pytest.raises(AccountNotFound) as info:
        await setup.accounts.db("partner9")
    assert info.value.account_id == "partner9"
    partner = await setup.accounts.db("partner1")
    assert partner.table_prefix == setup.base.table_prefix
    assert partner.endpoint_url == setup.base.endpoint_url


async def _concurrent_puts(db: DB, count: int, tag: str) -> None:
    await asyncio.gather(*(db.put(Doc(id=f"{tag}-{i}", body=tag)) for i in range(count)))


async def test_expiry_with_200_concurrent_calls_assumes_role_once_per_refresh(setup: Setup) -> None:
    p1 = await setup.accounts.db("partner1")
    await p1.create_table(Doc)
    await _concurrent_puts(p1, 200, "fresh")
    assert setup.assume_role_calls == 1
    setup.clock.offset += 3600 + 30  # across expiry: everyone must wait for new credentials
    await _concurrent_puts(p1, 200, "expired")
    assert setup.assume_role_calls == 2
    # Advisory window of the new credentials, past the latest jittered refresh point (300 s before
    # expiry, moved later by up to 0.8 x the 240 s gap: 108 s) and before the mandatory 60 s.
    setup.clock.offset += 3600 - 70
    await _concurrent_puts(p1, 200, "advisory")
    await asyncio.sleep(0)
    assert setup.assume_role_calls == 3
    assert len(await _scan_ids(p1)) == 600


async def _scan_ids(db: DB) -> set[str]:
    keys = [f"{tag}-{i}" for tag in ("fresh", "expired", "advisory") for i in range(200)]
    found = await asyncio.gather(*(db.find(Doc, key) for key in keys))
    return {doc.id for doc in found if doc is not None}


async def test_sts_failing_in_advisory_window_fails_no_call(setup: Setup) -> None:
    p1 = await setup.accounts.db("partner1")
    await p1.create_table(Doc)
    setup.clock.offset += 3600 - 70  # advisory window, past the latest jittered refresh point (108 s)
    setup.sts[0].failing = True
    await _concurrent_puts(p1, 200, "advisory")  # no exception: the cached credentials still serve
    assert setup.sts[0].sent >= 2 and setup.assume_role_calls == 1


async def test_sts_failing_in_mandatory_window_raises_credentials_error(setup: Setup) -> None:
    p2 = await setup.accounts.db("partner2")  # a 900 s role
    await p2.create_table(Doc)
    setup.clock.offset += 900 - 30
    setup.sts[0].failing = True
    with pytest.raises(CredentialsError) as info:
        await p2.put(Doc(id="d1"))
    assert ROLE_2 in str(info.value)
    setup.sts[0].failing = False
    await p2.put(Doc(id="d1"))  # STS back: the next call refreshes and succeeds
    assert setup.assume_role_calls == 2


async def test_no_secret_in_reprs(setup: Setup) -> None:
    p1 = await setup.accounts.db("partner1")
    await p1.create_table(Doc)
    creds = await setup.accounts.credentials("partner1").get()
    texts = [
        repr(setup.accounts),
        repr(setup.accounts.credentials("partner1")),
        repr(creds),
        repr(setup.accounts.config("partner1")),
    ]
    for text in texts:
        assert creds.secret_access_key not in text
        assert creds.session_token is not None and creds.session_token not in text
        assert "ext-1" not in text


def test_from_env_reads_partner_variables() -> None:
    base = DB(region="eu-west-1", credentials=("k", "s"), transport="lean")
    accounts = Accounts.from_env(
        base=base,
        environ={
            "PARTNER1_ROLE_ARN": ROLE_1,
            "PARTNER1_EXTERNAL_ID": "ext-1",
            "PARTNER1_REGION": "us-west-2",
            "PARTNER12_ROLE_ARN": ROLE_2,
            "PARTNER3_EXTERNAL_ID": "orphan",
            "OTHER_ROLE_ARN": ROLE_2,
        },
    )
    assert list(accounts) == ["partner1", "partner12"]
    assert accounts.config("partner1") == AccountConfig(ROLE_1, "ext-1", region="us-west-2")
    assert accounts.config("partner12") == AccountConfig(ROLE_2)


def _caller_arn(endpoint_url: str, creds: Credentials) -> str:
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
    )
    arn: str = sts.get_caller_identity()["Arn"]
    return arn


async def test_partner_credentials_carry_the_per_partner_session_name_when_sts_answers(
    setup: Setup, backend: Backend
) -> None:
    one = await setup.accounts.credentials("partner1").get()
    two = await setup.accounts.credentials("partner2").get()
    assert setup.sts[0].assumed_arns == [
        "arn:aws:sts::111111111111:assumed-role/partner-one/aiotheory-partner1"
    ]
    assert backend.endpoint_url is not None
    # Who STS (and so CloudTrail) says the partner's credentials belong to.
    assert await asyncio.to_thread(_caller_arn, backend.endpoint_url, one) == (
        "arn:aws:sts::111111111111:assumed-role/partner-one/aiotheory-partner1"
    )
    assert await asyncio.to_thread(_caller_arn, backend.endpoint_url, two) == (
        "arn:aws:sts::222222222222:assumed-role/partner-two/aiotheory-partner2"
    )


async def test_partner_added_at_run_time_works_and_removed_partner_is_gone(setup: Setup) -> None:
    accounts = setup.accounts
    accounts.add("partner3", AccountConfig("arn:aws:iam::333333333333:role/partner-three"))
    p3 = await accounts.db("partner3")
    await p3.create_table(Doc)
    await p3.put(Doc(id="d3"))
    assert (await p3.get(Doc, "d3")).id == "d3"
    await accounts.remove("partner3")
    with pytest.raises(AccountNotFound):
        await accounts.db("partner3")
    accounts.add("partner3", AccountConfig("arn:aws:iam::333333333333:role/partner-three"))
    again = await accounts.db("partner3")
    assert again is not p3
    assert (await again.get(Doc, "d3")).id == "d3"  # the same account's table, reached afresh
    assert setup.assume_role_calls == 2  # the re-added partner assumed the role again
