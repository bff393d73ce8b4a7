"""Credentials, the simple providers, the env-first default chain and the botocore fallback."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession
from botocore.exceptions import ProfileNotFound

from aiotheory.credentials import (
    BotocoreChainProvider,
    ChainProvider,
    CredentialProvider,
    Credentials,
    EnvProvider,
    StaticProvider,
    default_provider,
    resolve,
)
from aiotheory.errors import CredentialsError

if TYPE_CHECKING:
    from pathlib import Path

_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
_TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN//////////"
_CREDS = Credentials(access_key_id="AKIDEXAMPLE", secret_access_key=_SECRET, session_token=_TOKEN)
_ENV_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@pytest.fixture
def no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env_credentials(monkeypatch: pytest.MonkeyPatch, no_env_credentials: None) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")


class _Recording:
    """A provider that counts calls, answering with `creds` or raising CredentialsError."""

    def __init__(self, creds: Credentials | None) -> None:
        self.creds = creds
        self.gets = 0
        self.invalidations = 0

    async def get(self) -> Credentials:
        self.gets += 1
        if self.creds is None:
            raise CredentialsError("nothing here")
        return self.creds

    def invalidate(self) -> None:
        self.invalidations += 1


class _Session:
    """A botocore-style session whose `get_credentials` hands out a prepared object (or raises)."""

    def __init__(self, creds: object = None, error: Exception | None = None) -> None:
        self.creds = creds
        self.error = error
        self.calls = 0

    async def get_credentials(self) -> object:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.creds


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _Refresh:
    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.calls = 0

    async def __call__(self) -> dict[str, str]:
        self.calls += 1
        expiry = self.clock.now + timedelta(hours=1)
        return {
            "access_key": f"ASIAREFRESHED{self.calls}",
            "secret_key": f"refreshed-secret-{self.calls}",
            "token": f"refreshed-token-{self.calls}",
            "expiry_time": expiry.isoformat(),
        }


# --- Credentials -------------------------------------------------------------------------------------


def test_credentials_repr_and_str_hide_secret_and_token() -> None:
    for text in (repr(_CREDS), str(_CREDS), f"{_CREDS}", f"{_CREDS!r}"):
        assert "AKIDEXAMPLE" in text
        assert _SECRET not in text
        assert _TOKEN not in text


def test_credentials_are_frozen_slotted_and_keyword_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _CREDS.access_key_id = "x"  # type: ignore[misc]
    assert not hasattr(_CREDS, "__dict__")
    with pytest.raises(TypeError):
        Credentials("AKID", "secret")  # type: ignore[misc]
    plain = Credentials(access_key_id="AKID", secret_access_key="s")
    assert plain.session_token is None
    assert plain.expiration is None


# --- StaticProvider ----------------------------------------------------------------------------------


async def test_static_provider_returns_given_credentials_and_ignores_invalidate() -> None:
    provider = StaticProvider(_CREDS)
    assert isinstance(provider, CredentialProvider)
    assert await provider.get() is _CREDS
    provider.invalidate()
    assert await provider.get() is _CREDS
    assert _SECRET not in repr(provider)


def test_static_provider_constant_is_the_given_credentials_when_read() -> None:
    # The lean transport signs with `constant` instead of awaiting `get()` per request.
    provider = StaticProvider(_CREDS)
    assert provider.constant is _CREDS
    provider.invalidate()
    assert provider.constant is _CREDS


# --- EnvProvider -------------------------------------------------------------------------------------


async def test_env_provider_reads_all_three_variables(env_credentials: None) -> None:
    creds = await EnvProvider().get()
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "AKIDENV",
        "env-secret",
        "env-token",
    )
    assert creds.expiration is None


async def test_env_provider_token_is_none_when_unset(
    monkeypatch: pytest.MonkeyPatch, no_env_credentials: None
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert (await EnvProvider().get()).session_token is None


async def test_env_provider_raises_credentials_error_when_unset(no_env_credentials: None) -> None:
    with pytest.raises(CredentialsError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        await EnvProvider().get()


async def test_env_provider_raises_when_only_the_secret_is_set(
    monkeypatch: pytest.MonkeyPatch, no_env_credentials: None
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lonely-secret")
    with pytest.raises(CredentialsError, match="only one of") as caught:
        await EnvProvider().get()
    assert "lonely-secret" not in str(caught.value)


async def test_env_provider_rereads_at_each_get_and_reuses_unchanged_credentials(
    monkeypatch: pytest.MonkeyPatch, env_credentials: None
) -> None:
    provider = EnvProvider()
    first = await provider.get()
    assert await provider.get() is first
    monkeypatch.setenv("AWS_SESSION_TOKEN", "rotated-token")
    rotated = await provider.get()
    assert rotated.session_token == "rotated-token"
    provider.invalidate()
    assert await provider.get() is rotated


# --- BotocoreChainProvider ---------------------------------------------------------------------------


async def test_botocore_chain_reads_an_aiobotocore_session_with_static_credentials() -> None:
    session = AioSession()
    session.set_credentials("AKIDSESSION", "session-secret", "session-token")
    creds = await BotocoreChainProvider(session).get()
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "AKIDSESSION",
        "session-secret",
        "session-token",
    )


async def test_botocore_chain_reads_an_aioboto3_session() -> None:
    import aioboto3

    session = aioboto3.Session(aws_access_key_id="AKIDBOTO3", aws_secret_access_key="boto3-secret")
    creds = await BotocoreChainProvider(session).get()
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "AKIDBOTO3",
        "boto3-secret",
        None,
    )


async def test_botocore_chain_follows_botocore_refresh_when_credentials_expire() -> None:
    clock = _Clock(datetime(2030, 1, 1, tzinfo=UTC))
    refresh = _Refresh(clock)
    first_expiry = clock.now + timedelta(hours=1)
    source = AioRefreshableCredentials(
        "ASIAFIRST", "first-secret", "first-token", first_expiry, refresh, "test", time_fetcher=clock
    )
    session = _Session(source)
    provider = BotocoreChainProvider(session)

    first = await provider.get()
    assert first.access_key_id == "ASIAFIRST"
    assert first.expiration == first_expiry.timestamp()
    assert await provider.get() is first
    assert refresh.calls == 0

    clock.now += timedelta(hours=2)  # past the expiry: botocore must refresh on the next read
    second = await provider.get()
    assert refresh.calls == 1
    assert (second.access_key_id, second.secret_access_key, second.session_token) == (
        "ASIAREFRESHED1",
        "refreshed-secret-1",
        "refreshed-token-1",
    )
    assert second.expiration == (clock.now + timedelta(hours=1)).timestamp()
    assert session.calls == 1  # the chain was resolved once; refreshing is botocore's job


async def test_botocore_chain_raises_credentials_error_when_chain_finds_nothing() -> None:
    with pytest.raises(CredentialsError, match="no AWS credentials found by the botocore chain"):
        await BotocoreChainProvider(_Session(None)).get()


async def test_botocore_chain_default_session_finds_nothing_in_an_empty_environment(
    monkeypatch: pytest.MonkeyPatch, no_env_credentials: None, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CredentialsError, match="botocore chain"):
        await BotocoreChainProvider().get()


async def test_botocore_chain_translates_botocore_errors() -> None:
    provider = BotocoreChainProvider(_Session(error=ProfileNotFound(profile="missing")))
    with pytest.raises(CredentialsError, match="ProfileNotFound") as caught:
        await provider.get()
    assert isinstance(caught.value.__cause__, ProfileNotFound)


async def test_botocore_chain_names_the_extra_when_botocore_is_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes the import fail as an uninstalled package would.
    monkeypatch.setitem(sys.modules, "botocore.exceptions", None)
    with pytest.raises(CredentialsError) as caught:
        await BotocoreChainProvider().get()
    message = str(caught.value)
    assert 'pip install "aiotheory[botocore]"' in message
    assert "AWS_ACCESS_KEY_ID" in message


# --- ChainProvider and default_provider ---------------------------------------------------------------


async def test_chain_returns_first_provider_that_answers_and_keeps_it() -> None:
    empty, full, never = _Recording(None), _Recording(_CREDS), _Recording(_CREDS)
    chain = ChainProvider(empty, full, never)
    assert await chain.get() is _CREDS
    assert await chain.get() is _CREDS
    assert (empty.gets, full.gets, never.gets) == (1, 2, 0)


async def test_chain_invalidate_invalidates_chosen_and_walks_again() -> None:
    empty, full = _Recording(None), _Recording(_CREDS)
    chain = ChainProvider(empty, full)
    await chain.get()
    chain.invalidate()
    assert full.invalidations == 1
    await chain.get()
    assert empty.gets == 2


async def test_chain_error_names_every_reason_when_all_fail() -> None:
    with pytest.raises(CredentialsError, match=r"_Recording: nothing here; _Recording: nothing here"):
        await ChainProvider(_Recording(None), _Recording(None)).get()


def test_chain_refuses_to_be_empty() -> None:
    with pytest.raises(CredentialsError):
        ChainProvider()


async def test_default_provider_prefers_environment(env_credentials: None) -> None:
    creds = await default_provider().get()
    assert creds.access_key_id == "AKIDENV"


@pytest.fixture
def credentials_file(monkeypatch: pytest.MonkeyPatch, no_env_credentials: None, tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)


async def test_default_provider_falls_back_to_botocore_chain(credentials_file: None) -> None:
    creds = await default_provider().get()
    assert (creds.access_key_id, creds.secret_access_key) == ("AKIDFILE", "file-secret")


def test_default_provider_with_session_uses_that_session_only() -> None:
    session = _Session(None)
    provider = default_provider(session)
    assert isinstance(provider, BotocoreChainProvider)


def test_env_credentials_never_import_botocore() -> None:
    code = (
        "import asyncio, sys\n"
        "from aiotheory.credentials import default_provider\n"
        "import aiotheory.transport._sigv4, aiotheory.credentials._sts\n"
        "creds = asyncio.run(default_provider().get())\n"
        "assert creds.access_key_id == 'AKIDENV', creds\n"
        "print(sorted(m for m in sys.modules if 'botocore' in m or 'aiohttp' in m))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="env-secret")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- resolve -----------------------------------------------------------------------------------------


async def test_resolve_wraps_credentials_and_tuples() -> None:
    assert await resolve(_CREDS, None).get() is _CREDS
    pair = await resolve(("AKID", "secret"), None).get()
    assert (pair.access_key_id, pair.secret_access_key, pair.session_token) == ("AKID", "secret", None)
    triple = await resolve(("AKID", "secret", "token"), None).get()
    assert triple.session_token == "token"


def test_resolve_returns_a_provider_unchanged() -> None:
    provider = _Recording(_CREDS)
    assert resolve(provider, object()) is provider


def test_resolve_none_gives_the_default_chain_or_the_session_chain() -> None:
    assert isinstance(resolve(None, None), ChainProvider)
    assert isinstance(resolve(None, _Session(None)), BotocoreChainProvider)


@pytest.mark.parametrize(
    "bad", [("AKID",), ("AKID", _SECRET, "t", "x"), ("AKID", 42), ("AKID", _SECRET, None)]
)
def test_resolve_refuses_bad_tuples_without_echoing_values(bad: tuple[object, ...]) -> None:
    with pytest.raises(CredentialsError) as caught:
        resolve(bad, None)  # type: ignore[arg-type]
    assert _SECRET not in str(caught.value)
    assert "AKID" not in str(caught.value)


def test_resolve_refuses_other_types() -> None:
    with pytest.raises(CredentialsError, match="not dict"):
        resolve({"access_key_id": "AKID"}, None)  # type: ignore[arg-type]
