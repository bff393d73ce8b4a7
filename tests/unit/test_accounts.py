"""AccountConfig and Accounts without a server: validation, the environment convention, caching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, PK, Model
from aiotheory._observe import Hook
from aiotheory.accounts import AccountConfig, Accounts
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.errors import AccountNotFound, CredentialsError, DeadlineExceeded, ValidationError
from aiotheory.testing import FakeTransport, FaultTransport, Stall
from aiotheory.testing._faultserver import FaultServer, Reply, dynamodb_error

if TYPE_CHECKING:
    from aiotheory.transport.base import Transport

ROLE_1 = "arn:aws:iam::111111111111:role/partner-one"
ROLE_2 = "arn:aws:iam::222222222222:role/path/partner-two"
NOW = 1_700_000_000.0


class Doc(Model, table="docs"):
    id: Annotated[str, PK]


def _base() -> DB:
    return DB(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        credentials=("k", "s"),
        table_prefix="dev_",
        transport="lean",
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        (("arn:aws:iam::1111:role/x",), {}, "role ARN"),
        (("arn:aws:s3:::bucket",), {}, "role ARN"),
        ((ROLE_1,), {"session_name": "a"}, "session_name"),
        ((ROLE_1,), {"session_name": "has space"}, "session_name"),
        ((ROLE_1,), {"duration": 600}, "duration"),
        ((ROLE_1, "x"), {}, "external_id"),
    ],
)
def test_account_config_rejects_bad_values(
    args: tuple[str, ...], kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        AccountConfig(*args, **kwargs)  # type: ignore[arg-type]  # bad values under test


def test_account_config_defaults_and_repr_hides_external_id() -> None:
    config = AccountConfig(ROLE_1, "ext-secret-1")
    assert (config.region, config.session_name, config.duration) == (None, "aiotheory", 3600)
    assert "ext-secret-1" not in repr(config) and ROLE_1 in repr(config)
    assert AccountConfig("arn:aws-cn:iam::111111111111:role/x").role_arn.startswith("arn:aws-cn")


def test_margins_are_validated_against_every_role_duration() -> None:
    configs = {"p": AccountConfig(ROLE_1, duration=900)}
    with pytest.raises(ValidationError, match="margins"):
        Accounts(configs, base=_base(), advisory_margin=900, mandatory_margin=60)
    with pytest.raises(ValidationError, match="margins"):
        Accounts(configs, base=_base(), advisory_margin=300, mandatory_margin=300)
    Accounts(configs, base=_base(), advisory_margin=600, mandatory_margin=120)


@pytest.mark.parametrize("sts_timeout", [0.0, -1.0, float("nan")])
def test_accounts_raise_validation_error_when_sts_timeout_is_not_positive(sts_timeout: float) -> None:
    configs = {"p": AccountConfig(ROLE_1)}
    with pytest.raises(ValidationError, match="sts_timeout"):
        Accounts(configs, base=_base(), sts_timeout=sts_timeout)
    with pytest.raises(ValidationError, match="sts_timeout"):
        Accounts.from_env(base=_base(), environ={}, sts_timeout=sts_timeout)


class _StallSts:
    """wrap_sts: AssumeRole never answers, so only the refresh's own bound ends it."""

    def __call__(self, inner: Transport) -> Transport:
        return FaultTransport(inner, Stall(op="AssumeRole"))


async def test_partner_credentials_fail_after_sts_timeout_when_sts_hangs() -> None:
    accounts = Accounts(
        {"p": AccountConfig(ROLE_1)},
        base=_base(),
        base_credentials=StaticProvider(Credentials(access_key_id="k", secret_access_key="s")),
        wrap_sts=_StallSts(),
        sts_timeout=0.02,
    )
    try:
        with pytest.raises(CredentialsError, match=r"sts_timeout=0\.02s") as info:
            await accounts.credentials("p").get()
        assert isinstance(info.value.__cause__, DeadlineExceeded)
    finally:
        await accounts.close()


async def test_unknown_partner_raises_account_not_found() -> None:
    accounts = Accounts({"partner1": AccountConfig(ROLE_1)}, base=_base())
    with pytest.raises(AccountNotFound, match="partner2"):
        await accounts.db("partner2")
    with pytest.raises(LookupError):
        accounts.credentials("partner2")
    assert "partner1" in accounts and "partner2" not in accounts and len(accounts) == 1


async def test_partner_db_inherits_base_settings_and_is_cached() -> None:
    accounts = Accounts(
        {"partner1": AccountConfig(ROLE_1), "partner2": AccountConfig(ROLE_2, region="us-west-2")},
        base=_base(),
    )
    one = await accounts.db("partner1")
    two = await accounts.db("partner2")
    assert one is await accounts.db("partner1")
    assert (one.region, one.endpoint_url, one.table_prefix) == ("eu-west-1", "http://127.0.0.1:1", "dev_")
    assert two.region == "us-west-2"
    assert getattr(one.transport, "partner", None) == "partner1"
    assert accounts.credentials("partner2").region == "us-west-2"


def test_partners_with_the_same_role_share_one_credential_cache() -> None:
    accounts = Accounts(
        {
            "a": AccountConfig(ROLE_1, "ext-1"),
            "b": AccountConfig(ROLE_1, "ext-1"),
            "c": AccountConfig(ROLE_1, "ext-2"),
            "d": AccountConfig(ROLE_1, "ext-1", region="us-west-2"),
        },
        base=_base(),
    )
    assert accounts.credentials("a") is accounts.credentials("b")
    assert accounts.credentials("a") is not accounts.credentials("c")
    assert accounts.credentials("a") is not accounts.credentials("d")


def test_from_env_maps_prefix_to_partner_id() -> None:
    accounts = Accounts.from_env(
        base=_base(),
        environ={
            "PARTNER2_ROLE_ARN": ROLE_2,
            "PARTNER2_REGION": "us-west-2",
            "PARTNER1_ROLE_ARN": ROLE_1,
            "PARTNER1_EXTERNAL_ID": "ext-1",
            "PARTNER4_ROLE_ARN": "",
            "PARTNER_ROLE_ARN": ROLE_1,
        },
    )
    assert list(accounts) == ["partner1", "partner2"]
    assert accounts.config("partner1") == AccountConfig(ROLE_1, "ext-1")
    assert accounts.config("partner2") == AccountConfig(ROLE_2, region="us-west-2")


def test_from_env_rejects_malformed_role() -> None:
    with pytest.raises(ValidationError, match="role ARN"):
        Accounts.from_env(base=_base(), environ={"PARTNER1_ROLE_ARN": "not-an-arn"})


async def test_calls_through_a_partner_db_are_labelled_with_the_partner() -> None:
    accounts = Accounts({"partner1": AccountConfig(ROLE_1)}, base=_base())
    partner = await accounts.db("partner1")
    hook = Hook(None)
    from aiotheory._observe import invocation_scope

    with invocation_scope("r1") as invocation:
        hook.finished(None, partner.transport, "GetItem", {"TableName": "t"}, None, 1, 0.0, None)
    assert invocation.calls[0].partner == "partner1"


class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class _FixedSts:
    """wrap_sts: AssumeRole answered by a script instead of STS."""

    def __init__(self, sts: Transport) -> None:
        self.sts = sts

    def __call__(self, inner: Transport) -> Transport:
        return self.sts


def _assumed(key_id: str) -> dict[str, object]:
    expiration = NOW + 3600
    return {
        "Credentials": {
            "AccessKeyId": key_id,
            "SecretAccessKey": "s",
            "SessionToken": "t",
            "Expiration": expiration,
        }
    }


async def test_partner_call_refreshes_and_resends_once_when_dynamodb_answers_expired_token() -> None:
    clock = _Clock()
    sts = FakeTransport(_assumed("ASIAFIRST"), _assumed("ASIASECOND"))
    script = (Reply(), dynamodb_error("ExpiredTokenException"), Reply())
    async with FaultServer(*script) as srv:
        base = DB(region="eu-west-1", endpoint_url=srv.url, credentials=("k", "s"), transport="lean")
        accounts = Accounts({"p": AccountConfig(ROLE_1)}, base=base, clock=clock, wrap_sts=_FixedSts(sts))
        try:
            partner = await accounts.db("p")
            assert await partner.find(Doc, "a") is None
            clock.now += 10  # past the grace in which an ExpiredToken is blamed on older credentials
            assert await partner.find(Doc, "b") is None  # the lean wire invalidated; call resent once
        finally:
            await accounts.close()
            await base.close()
    assert sts.operations == ["AssumeRole", "AssumeRole"]
    signed_with = [r.headers["authorization"].split("Credential=")[1].split("/")[0] for r in srv.requests]
    assert signed_with == ["ASIAFIRST", "ASIAFIRST", "ASIASECOND"]
