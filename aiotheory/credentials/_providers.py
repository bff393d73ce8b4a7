"""Credentials and their providers: explicit, environment, and the botocore chain as a fallback.

Explicit and environment credentials import nothing beyond the standard library and `errors`;
aiobotocore is imported only inside `BotocoreChainProvider.get`, so a Lambda without the `botocore`
extra never loads it. Imports nothing of the wire.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeAlias, TypeGuard, runtime_checkable

from aiotheory.errors import CredentialsError

__all__ = [
    "BotocoreChainProvider",
    "ChainProvider",
    "CredentialProvider",
    "Credentials",
    "CredentialsLike",
    "EnvProvider",
    "StaticProvider",
    "default_provider",
    "resolve",
]

_INSTALL_HINT: Final = (
    'install the botocore extra (pip install "aiotheory[botocore]") or set '
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """One set of AWS credentials. Secrets stay out of `repr` (and so out of logs and errors).

    `expiration` is wall-clock epoch seconds; None means the credentials never expire.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: float | None = None


@runtime_checkable
class CredentialProvider(Protocol):
    """Where a transport gets the credentials it signs with, once per request.

    `get` must be cheap when nothing needs refreshing: it runs before every request. `invalidate` is
    called when AWS answers `ExpiredToken`, so the next `get` fetches fresh credentials (a refreshing
    provider keeps one refresh in flight); providers with nothing to refresh do nothing.
    """

    async def get(self) -> Credentials:
        """The credentials to sign the next request with.

        Raises:
            CredentialsError: none could be found or refreshed.
        """
        ...

    def invalidate(self) -> None:
        """Forget the current credentials; AWS said they expired."""
        ...


class StaticProvider:
    """Explicit credentials, returned as given."""

    __slots__ = ("_credentials",)

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"StaticProvider({self._credentials!r})"

    @property
    def constant(self) -> Credentials:
        """The credentials, which never change: a transport may keep them instead of awaiting `get`."""
        return self._credentials

    async def get(self) -> Credentials:
        return self._credentials

    def invalidate(self) -> None:
        """Explicit credentials cannot be refreshed; the caller's retry policy decides what follows."""


class EnvProvider:
    """`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, read at every `get`.

    Lambda sets all three in every execution environment, so this is the whole chain there. Reading
    the environment each time costs a few dict lookups and follows a process that rotates them.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: Credentials | None = None

    def __repr__(self) -> str:
        return "EnvProvider()"

    async def get(self) -> Credentials:
        """Raises:
        CredentialsError: the key id or the secret is unset or empty.
        """
        environ = os.environ
        key_id = environ.get("AWS_ACCESS_KEY_ID")
        secret = environ.get("AWS_SECRET_ACCESS_KEY")
        token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN") or None
        if not key_id or not secret:
            if key_id or secret:
                raise CredentialsError(
                    "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; set both"
                )
            raise CredentialsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        last = self._last
        if _unchanged(last, key_id, secret, token):
            return last
        self._last = Credentials(access_key_id=key_id, secret_access_key=secret, session_token=token)
        return self._last

    def invalidate(self) -> None:
        """The environment is re-read at every `get`; nothing is cached that could be stale."""


class BotocoreChainProvider:
    """The full botocore credential chain (profiles, SSO, web identity, container, IMDS, ...).

    aiobotocore is imported on the first `get`, inside the running loop. Refreshable credentials are
    refreshed by botocore itself through `get_frozen_credentials()`, on botocore's schedule.

    Args:
        session: an `aioboto3.Session`, an aiobotocore `AioSession` or a botocore `Session`; None
            creates a default aiobotocore session on first use.
    """

    __slots__ = ("_errors", "_last", "_resolved", "_session")

    def __init__(self, session: object | None = None) -> None:
        self._session = session
        # botocore objects are untyped: Any stays inside this class.
        self._resolved: Any = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._last: Credentials | None = None

    def __repr__(self) -> str:
        return f"BotocoreChainProvider(session={type(self._session).__name__})"

    async def get(self) -> Credentials:
        """Raises:
        CredentialsError: the extra is not installed, the chain found nothing, or refreshing failed.
        """
        source = self._resolved
        if source is None:
            source = self._resolved = await self._load()
        try:
            frozen = source.get_frozen_credentials()
            if isinstance(frozen, Awaitable):
                frozen = await frozen
        except self._errors as exc:
            raise _chain_failed(exc) from exc
        key_id, secret, token = frozen.access_key, frozen.secret_key, frozen.token or None
        last = self._last
        if _unchanged(last, key_id, secret, token):
            return last
        # botocore keeps the expiry only privately; it is informational here (botocore refreshes).
        expiry: Any = getattr(source, "_expiry_time", None)
        expiration = expiry.timestamp() if hasattr(expiry, "timestamp") else None
        self._last = Credentials(
            access_key_id=key_id, secret_access_key=secret, session_token=token, expiration=expiration
        )
        return self._last

    def invalidate(self) -> None:
        """Forget what was read; botocore still decides when its refreshable credentials refresh."""
        self._last = None

    async def _load(self) -> Any:
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise CredentialsError(f"no credentials in the environment: {_INSTALL_HINT}") from exc
        # RuntimeError: aiobotocore's "refreshed credentials are still expired".
        self._errors = (BotoCoreError, ClientError, RuntimeError)
        session: Any = self._session
        try:
            if session is None:
                from aiobotocore.session import get_session

                session = self._session = get_session()
            got = session.get_credentials()
            if isinstance(got, Awaitable):
                got = await got
        except ImportError as exc:
            raise CredentialsError(f"no credentials in the environment: {_INSTALL_HINT}") from exc
        except self._errors as exc:
            raise _chain_failed(exc) from exc
        if got is None:
            raise CredentialsError(
                "no AWS credentials found by the botocore chain (environment, shared config and "
                "credentials files, SSO, web identity, container and instance metadata)"
            )
        return got


def _chain_failed(exc: BaseException) -> CredentialsError:
    return CredentialsError(f"the botocore credential chain failed: {type(exc).__name__}: {exc}")


class ChainProvider:
    """Tries each provider in order; the first that answers is kept until `invalidate`.

    A provider that raises `CredentialsError` is skipped; when all fail, one error names each reason.
    """

    __slots__ = ("_chosen", "_providers")

    def __init__(self, *providers: CredentialProvider) -> None:
        if not providers:
            raise CredentialsError("ChainProvider needs at least one provider")
        self._providers = providers
        self._chosen: CredentialProvider | None = None

    def __repr__(self) -> str:
        return f"ChainProvider{self._providers!r}"

    async def get(self) -> Credentials:
        """Raises:
        CredentialsError: no provider in the chain had credentials.
        """
        chosen = self._chosen
        if chosen is not None:
            return await chosen.get()
        reasons: list[str] = []
        for provider in self._providers:
            try:
                creds = await provider.get()
            except CredentialsError as exc:
                reasons.append(f"{type(provider).__name__}: {exc}")
                continue
            self._chosen = provider
            return creds
        raise CredentialsError("no AWS credentials found; " + "; ".join(reasons))

    def invalidate(self) -> None:
        """Invalidate the chosen provider and walk the chain again at the next `get`."""
        chosen = self._chosen
        self._chosen = None
        if chosen is not None:
            chosen.invalidate()


#: What `DB(credentials=...)` accepts: `(key id, secret)`, `(key id, secret, session token)`, a
#: `Credentials`, a provider, or None for the default chain.
CredentialsLike: TypeAlias = (
    "tuple[str, str] | tuple[str, str, str] | Credentials | CredentialProvider | None"
)


def default_provider(session: object | None = None) -> CredentialProvider:
    """Environment first (Lambda's case, no botocore import), then the botocore chain.

    With an explicit `session` its own chain is used as is: the session may name a profile, and
    botocore itself skips the environment then.
    """
    if session is not None:
        return BotocoreChainProvider(session)
    return ChainProvider(EnvProvider(), BotocoreChainProvider())


def resolve(credentials: CredentialsLike, session: object | None = None) -> CredentialProvider:
    """Turn what a user passed to `DB(...)` into a provider; explicit credentials win over `session`.

    Raises:
        CredentialsError: `credentials` has an unsupported shape (its values are never echoed).
    """
    if credentials is None:
        return default_provider(session)
    if isinstance(credentials, Credentials):
        return StaticProvider(credentials)
    if isinstance(credentials, tuple):
        if len(credentials) in (2, 3) and all(isinstance(part, str) for part in credentials):
            return StaticProvider(
                Credentials(
                    access_key_id=credentials[0],
                    secret_access_key=credentials[1],
                    session_token=credentials[2] if len(credentials) == 3 else None,
                )
            )
        raise CredentialsError(
            "a credentials tuple is (access_key_id, secret_access_key) or "
            "(access_key_id, secret_access_key, session_token), all strings"
        )
    if isinstance(credentials, CredentialProvider):
        return credentials
    raise CredentialsError(
        f"credentials must be Credentials, a tuple or a CredentialProvider, not {type(credentials).__name__}"
    )


def _unchanged(
    last: Credentials | None, key_id: str, secret: str, token: str | None
) -> TypeGuard[Credentials]:
    """Whether `last` already holds these keys: providers hand back the same object (the signer's
    cached key stays valid) instead of building a new one per call."""
    return (
        last is not None
        and last.access_key_id == key_id
        and last.secret_access_key == secret
        and last.session_token == token
    )
