"""AccountConfig and Accounts without a server: validation, the environment convention, caching."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, PK, Model
from aiotheory._observe import Hook
from aiotheory.accounts import AccountConfig, Accounts, current_partner, partner_scope
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.errors import AccountNotFound, CredentialsError, DeadlineExceeded, ValidationError
from aiotheory.retries import RetryPolicy
from aiotheory.testing import FakeTransport, FaultTransport, Stall
from aiotheory.testing._faultserver import FaultServer, Reply, dynamodb_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiotheory._types import Payload
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
        ((ROLE_1,), {"session_name": "caf\u00e9-session"}, "session_name"),
        ((ROLE_1,), {"session_name": "x" * 65}, "session_name"),
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
    assert (config.region, config.session_name, config.duration) == (None, None, 3600)
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


def test_partners_with_the_same_role_and_session_name_share_one_credential_cache() -> None:
    accounts = Accounts(
        {
            "a": AccountConfig(ROLE_1, "ext-1", session_name="svc"),
            "b": AccountConfig(ROLE_1, "ext-1", session_name="svc"),
            "c": AccountConfig(ROLE_1, "ext-2", session_name="svc"),
            "d": AccountConfig(ROLE_1, "ext-1", region="us-west-2", session_name="svc"),
            "e": AccountConfig(ROLE_1, "ext-1"),
        },
        base=_base(),
    )
    assert accounts.credentials("a") is accounts.credentials("b")
    assert accounts.credentials("a") is not accounts.credentials("c")
    assert accounts.credentials("a") is not accounts.credentials("d")
    # The default session name is per partner, so CloudTrail can tell the partners apart.
    assert accounts.credentials("a") is not accounts.credentials("e")


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


# ------------------------------------------------------------------ partner semantics (issue 16 §4)


def _fake_base_credentials() -> StaticProvider:
    return StaticProvider(Credentials(access_key_id="k", secret_access_key="s"))


@pytest.mark.parametrize("partner_id", ["", None])
async def test_db_returns_the_base_db_when_partner_id_is_empty(partner_id: str | None) -> None:
    base = _base()
    accounts = Accounts({"partner1": AccountConfig(ROLE_1)}, base=base)
    assert await accounts.db(partner_id) is base


def test_session_name_defaults_to_aiotheory_dash_partner_when_config_sets_none() -> None:
    accounts = Accounts(
        {"partner1": AccountConfig(ROLE_1), "fixed": AccountConfig(ROLE_2, session_name="own-name")},
        base=_base(),
    )
    assert accounts.session_name("partner1") == "aiotheory-partner1"
    assert accounts.session_name("fixed") == "own-name"
    assert accounts.credentials("partner1")._payload["RoleSessionName"] == "aiotheory-partner1"
    with pytest.raises(AccountNotFound):
        accounts.session_name("partner9")


def _upper(partner_id: str) -> str:
    return f"svc@{partner_id.upper()}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [("payments.{partner}", "payments.p1"), (_upper, "svc@P1"), ("fixed", "fixed"), ("{partner}", "p1")],
)
def test_session_name_follows_accounts_template_when_given(
    template: str | Callable[[str], str], expected: str
) -> None:
    accounts = Accounts({"p1": AccountConfig(ROLE_1)}, base=_base(), session_name=template)
    assert accounts.session_name("p1") == expected


@pytest.mark.parametrize(
    ("partner_id", "template"),
    [
        ("acme/corp", "aiotheory-{partner}"),  # "/" is not allowed in a RoleSessionName
        ("p" * 60, "aiotheory-{partner}"),  # 70 characters: over STS's 64
        ("x", "{partner}"),  # 1 character: under STS's 2
        ("p\u00e9", "a-{partner}"),  # rejected as a partner id first (not ASCII)
    ],
)
def test_accounts_raise_validation_error_when_session_name_breaks_sts_rules(
    partner_id: str, template: str
) -> None:
    configs = {partner_id: AccountConfig(ROLE_1)}
    with pytest.raises(ValidationError, match=r"session name|partner id"):
        Accounts(configs, base=_base(), session_name=template)
    accounts = Accounts({}, base=_base(), session_name=template)
    with pytest.raises(ValidationError, match=r"session name|partner id"):
        accounts.add(partner_id, AccountConfig(ROLE_1))
    assert partner_id not in accounts


def _bad_namer(partner_id: str) -> str:
    return "bad name"


def test_add_raises_validation_error_when_session_namer_returns_a_bad_name() -> None:
    accounts = Accounts({}, base=_base(), session_name=_bad_namer)
    with pytest.raises(ValidationError, match="'bad name'"):
        accounts.add("p1", AccountConfig(ROLE_1))


@pytest.mark.parametrize("partner_id", ["", "a b", "a\r\nx-injected: 1", "p" * 129, 5])
def test_add_raises_validation_error_when_partner_id_is_malformed(partner_id: object) -> None:
    accounts = Accounts({}, base=_base())
    with pytest.raises(ValidationError, match="partner id"):
        accounts.add(partner_id, AccountConfig(ROLE_1))  # type: ignore[arg-type]  # bad ids under test
    assert len(accounts) == 0


def test_add_raises_validation_error_when_config_is_not_an_account_config() -> None:
    accounts = Accounts({}, base=_base())
    with pytest.raises(ValidationError, match="AccountConfig"):
        accounts.add("p1", {"role_arn": ROLE_1})  # type: ignore[arg-type]  # wrong type under test


def test_add_raises_validation_error_when_margins_exceed_the_role_duration() -> None:
    accounts = Accounts({}, base=_base(), advisory_margin=1000, mandatory_margin=60)
    with pytest.raises(ValidationError, match="margins"):
        accounts.add("p1", AccountConfig(ROLE_1, duration=900))
    accounts.add("p1", AccountConfig(ROLE_1, duration=3600))


async def test_add_is_idempotent_and_refuses_another_config_when_partner_exists() -> None:
    accounts = Accounts({}, base=_base())
    accounts.add("p1", AccountConfig(ROLE_1))
    made = await accounts.db("p1")
    accounts.add("p1", AccountConfig(ROLE_1))  # the same config again: nothing changes
    assert await accounts.db("p1") is made
    with pytest.raises(ValidationError, match="remove it first"):
        accounts.add("p1", AccountConfig(ROLE_2))
    assert accounts.config("p1").role_arn == ROLE_1


class _StsPerCache:
    """wrap_sts: each credential cache gets the next scripted STS (a removed cache closes its own)."""

    def __init__(self, *scripts: FakeTransport) -> None:
        self.scripts = list(scripts)

    def __call__(self, inner: Transport) -> Transport:
        return self.scripts.pop(0)


async def test_remove_closes_the_db_and_forgets_credentials_when_partner_is_removed() -> None:
    first, second = FakeTransport(_assumed("ASIAFIRST")), FakeTransport(_assumed("ASIASECOND"))
    accounts = Accounts(
        {"p1": AccountConfig(ROLE_1)},
        base=_base(),
        base_credentials=_fake_base_credentials(),
        wrap_sts=_StsPerCache(first, second),
        clock=_Clock(),
    )
    try:
        old = await accounts.db("p1")
        old_credentials = accounts.credentials("p1")
        assert (await old_credentials.get()).access_key_id == "ASIAFIRST"
        await accounts.remove("p1")
        assert "p1" not in accounts
        with pytest.raises(AccountNotFound):
            await accounts.db("p1")
        with pytest.raises(AccountNotFound):
            accounts.credentials("p1")
        with pytest.raises(ValidationError, match="closed"):
            await old.find(Doc, "a")  # the removed DB refuses new calls
        with pytest.raises(CredentialsError, match="closed"):
            await old_credentials.get()  # and its cache never assumes the role again
        assert first.operations == ["AssumeRole"] and first.closed

        accounts.add("p1", AccountConfig(ROLE_1))
        fresh = await accounts.db("p1")
        assert fresh is not old
        assert (await accounts.credentials("p1").get()).access_key_id == "ASIASECOND"
        assert first.operations == ["AssumeRole"] and second.operations == ["AssumeRole"]
    finally:
        await accounts.close()


async def test_remove_raises_account_not_found_when_partner_is_unknown() -> None:
    accounts = Accounts({"p1": AccountConfig(ROLE_1)}, base=_base())
    with pytest.raises(AccountNotFound, match="p2"):
        await accounts.remove("p2")
    assert "p1" in accounts


async def test_remove_keeps_the_shared_credential_cache_when_another_partner_uses_it() -> None:
    sts = FakeTransport(_assumed("ASIASHARED"))
    accounts = Accounts(
        {"a": AccountConfig(ROLE_1, session_name="svc"), "b": AccountConfig(ROLE_1, session_name="svc")},
        base=_base(),
        base_credentials=_fake_base_credentials(),
        wrap_sts=_FixedSts(sts),
        clock=_Clock(),
    )
    try:
        shared = accounts.credentials("a")
        await shared.get()
        await accounts.remove("a")
        assert accounts.credentials("b") is shared
        assert (await shared.get()).access_key_id == "ASIASHARED"  # cached: no second AssumeRole
        assert sts.operations == ["AssumeRole"]
    finally:
        await accounts.close()


class _GateSts:
    """An STS transport whose AssumeRole enters, says so, and never answers."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.sent = 0

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        self.sent += 1
        self.entered.set()
        await asyncio.get_running_loop().create_future()  # cancelled by the owner of the refresh
        raise AssertionError("unreachable")

    async def close(self) -> None:
        return None


async def test_remove_fails_waiters_with_credentials_error_when_a_refresh_is_in_flight() -> None:
    sts = _GateSts()
    accounts = Accounts(
        {"p1": AccountConfig(ROLE_1)},
        base=_base(),
        base_credentials=_fake_base_credentials(),
        wrap_sts=_FixedSts(sts),
    )
    try:
        waiter = asyncio.create_task(accounts.credentials("p1").get())
        await sts.entered.wait()
        await accounts.remove("p1")
        with pytest.raises(CredentialsError, match="abandoned"):
            await waiter
        assert sts.sent == 1
    finally:
        await accounts.close()


async def test_db_never_caches_a_removed_partner_when_db_and_remove_race() -> None:
    accounts = Accounts({"p1": AccountConfig(ROLE_1)}, base=_base())
    try:
        first, removed, late = await asyncio.gather(
            accounts.db("p1"), accounts.remove("p1"), accounts.db("p1"), return_exceptions=True
        )
        assert removed is None and isinstance(late, AccountNotFound)
        assert isinstance(first, DB)
        accounts.add("p1", AccountConfig(ROLE_1))
        again = await accounts.db("p1")
        assert again is not first  # the DB made before the removal was not left in the cache
        with pytest.raises(ValidationError, match="closed"):
            await first.find(Doc, "a")
    finally:
        await accounts.close()


async def test_use_sets_the_current_partner_and_restores_it_when_the_scope_exits() -> None:
    base = _base()
    accounts = Accounts({"p1": AccountConfig(ROLE_1), "p2": AccountConfig(ROLE_2)}, base=base)
    assert current_partner() is None
    async with accounts.use("p1") as one:
        assert one is await accounts.db("p1") and current_partner() == "p1"
        async with accounts.use("p2") as two:
            assert two is await accounts.db("p2") and current_partner() == "p2"
        assert current_partner() == "p1"
        with pytest.raises(AccountNotFound):
            async with accounts.use("p9"):
                pass
        assert current_partner() == "p1"
        async with accounts.use("") as plain:
            assert plain is base and current_partner() is None
    assert current_partner() is None


async def test_current_partner_is_isolated_per_task_when_scopes_run_concurrently() -> None:
    seen: dict[str, str | None] = {}
    both = asyncio.Barrier(2)

    async def serve(partner_id: str) -> None:
        with partner_scope(partner_id):
            await both.wait()  # both scopes are open at once
            seen[partner_id] = current_partner()

    await asyncio.gather(serve("p1"), serve("p2"))
    assert seen == {"p1": "p1", "p2": "p2"}
    assert current_partner() is None


def test_partners_share_one_adaptive_sts_policy_when_no_sts_retry_is_given() -> None:
    # STS's AssumeRole quota is per calling account: one limiter paces all of this process's roles.
    accounts = Accounts({"a": AccountConfig(ROLE_1), "b": AccountConfig(ROLE_2)}, base=_base())
    one, two = accounts.credentials("a")._policy, accounts.credentials("b")._policy
    assert one is two and one.mode == "adaptive" and one.limiter is not None
    own = RetryPolicy(max_attempts=2)
    assert Accounts({"a": AccountConfig(ROLE_1)}, base=_base(), sts_retry=own).credentials("a")._policy is own
